"""The queue commands started without Typer's option parsing, from the same definitions.

The SMS system runs ``realname notices claim`` (ack, nack, receipt, stats) in a loop, and Typer 0.29
coerces every option through a pydantic TypeAdapter: loading pydantic and building the adapters and
the whole command tree was about a quarter of such a command's start-up. Their options are all
simple (a whole number within bounds, a string, a path, a channel), so this module reads them
straight from the commands' Typer definitions (names, defaults, bounds, environment variables) and
calls the command. Anything it does not handle exactly as Typer would (``--help``, an unknown or
repeated option, a value out of bounds or not plainly a number, a global option such as ``--debug``
or ``REALNAME_DEBUG``, shell completion) is left to Typer, which then answers as it always did.
"""

from __future__ import annotations

import errno
import gc
import inspect
import os
import sys
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import NoneType, UnionType
from typing import Any

import typer
from typer.core import TyperCommand
from typer.models import OptionInfo

# Settings of an option that Typer would act on and this module does not: such an option goes to Typer.
_UNHANDLED = (
    "callback",
    "parser",
    "click_type",
    "default_factory",
    "is_flag",
    "flag_value",
    "prompt",
    "is_eager",
    "exists",
    "allow_dash",
    "resolve_path",
    "path_type",
    "count",
)
# Environment variables that change how ``realname`` starts (global options, shell completion).
_GLOBAL_ENV = ("REALNAME_DEBUG", "_REALNAME_COMPLETE")


@dataclass(frozen=True)
class Call:
    """A command and the keyword arguments Typer would have called it with."""

    command: Callable[..., Any]
    kwargs: dict[str, Any]


class _Unhandled(Exception):
    """Typer should read this command line."""


def parse(args: Sequence[str], groups: dict[str, typer.Typer]) -> Call | None:
    """The call that ``realname GROUP COMMAND OPTIONS...`` makes, for the groups given; None when
    Typer should read the command line."""
    if len(args) < 2 or args[0] not in groups or any(os.environ.get(name) for name in _GLOBAL_ENV):
        return None
    group = groups[args[0]]
    info = next((c for c in group.registered_commands if c.name == args[1]), None)
    plain = info is not None and info.cls in (None, TyperCommand) and not info.context_settings and not info.deprecated
    if info is None or info.callback is None or not plain or group.registered_callback is not None:
        return None
    try:
        return Call(info.callback, _kwargs(info.callback, list(args[2:])))
    except _Unhandled:
        return None


def _kwargs(command: Callable[..., Any], args: list[str]) -> dict[str, Any]:
    hints = typing.get_type_hints(command, include_extras=True)
    options: dict[str, tuple[str, Any, OptionInfo]] = {}  # option name -> parameter, type, definition
    kwargs: dict[str, Any] = {}
    for name, parameter in inspect.signature(command).parameters.items():
        kind, info = _option(hints.get(name))
        if parameter.default is inspect.Parameter.empty:
            raise _Unhandled
        kwargs[name] = parameter.default
        for decl in info.param_decls or (f"--{name.replace('_', '-')}",):
            options[decl] = (name, kind, info)
    given: set[str] = set()
    while args:
        decl, joined, value = args.pop(0).partition("=")
        if decl not in options or not decl.startswith("--"):
            raise _Unhandled  # --help, a positional argument, a misspelt option: Typer says what it is
        if not joined:
            if not args or args[0].startswith("-"):
                raise _Unhandled
            value = args.pop(0)
        name, kind, info = options[decl]
        if name in given:
            raise _Unhandled
        given.add(name)
        kwargs[name] = _value(value, kind, info)
    for name, kind, info in options.values():
        envvar = info.envvar
        if name not in given and envvar is not None:
            if not isinstance(envvar, str):
                raise _Unhandled
            if os.environ.get(envvar):  # as click: an empty variable is not set
                given.add(name)
                kwargs[name] = _value(os.environ[envvar], kind, info)
    return kwargs


def _option(hint: Any) -> tuple[Any, OptionInfo]:
    """The value's type and the Typer option of an ``Annotated[type, typer.Option(...)]`` parameter."""
    if typing.get_origin(hint) is not typing.Annotated:
        raise _Unhandled
    kind, *extras = typing.get_args(hint)
    infos = [e for e in extras if isinstance(e, OptionInfo)]
    if len(infos) != 1 or any(getattr(infos[0], setting, None) for setting in _UNHANDLED):
        raise _Unhandled
    if typing.get_origin(kind) in (typing.Union, UnionType):  # Optional[X]
        kinds = [k for k in typing.get_args(kind) if k is not NoneType]
        if len(kinds) != 1:
            raise _Unhandled
        kind = kinds[0]
    return kind, infos[0]


def _value(text: str, kind: Any, info: OptionInfo) -> Any:
    if kind is str:
        return text
    if kind is int:
        if not (text.isascii() and text.isdigit()) or info.clamp:
            raise _Unhandled
        number = int(text)
        if (info.min is not None and number < info.min) or (info.max is not None and number > info.max):
            raise _Unhandled  # Typer names the bounds
        return number
    if kind is Path and text:
        return Path(text)
    if isinstance(kind, type) and issubclass(kind, Enum) and getattr(info, "case_sensitive", True):
        for member in kind:
            if member.value == text:
                return member
    raise _Unhandled


def run(call: Call) -> None:
    """Call the command as Typer's standalone mode would: ``typer.Exit`` ends the program with its
    code, Ctrl-C with 130, a closed standard output with 1. Any other error goes to the caller
    (``app.main``: a database error is the same masked line; an unexpected error shows Python's
    own traceback rather than Typer's formatted one, and neither shows local variables)."""
    try:
        call.command(**call.kwargs)
    except typer.Exit as exc:
        code = exc.exit_code
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        sys.stdout, sys.stderr = _Quiet(sys.stdout), _Quiet(sys.stderr)
        raise SystemExit(1) from None
    else:
        code = 0
    _wind_up()
    if code:
        raise SystemExit(code)


def _wind_up() -> None:
    """Close the database connections the command opened, then freeze every object left: the
    interpreter's shutdown then does not walk them all (SQLAlchemy's and Typer's, from their imports),
    which was about a quarter of a queue command's time. A queue command writes only to the database
    and to standard output and error, which are flushed at exit whatever the collector does."""
    db = sys.modules.get("scanner.db")
    if db is not None:
        db.dispose_engines()
    gc.freeze()


class _Quiet:
    """A stream whose flush ignores a closed pipe (as click's ``PacifyFlushWrapper``), so the
    interpreter exits without a second error."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
