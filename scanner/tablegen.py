"""Write ``scanner/tables.py``: the tables of ``scanner.models`` as SQLAlchemy Core.

The models are the one description of the schema. The commands that only run Core statements (the
notice queue the SMS system calls in a loop, above all) use the generated Core tables, so they do
not load SQLModel, pydantic and the ORM to build the models first. Run it after changing a model:

    python -m scanner.tablegen scanner/tables.py      (make tables)

``tests/unit/test_tablegen.py`` checks that the file is what the models give and that both
describe the same tables.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import Column, ForeignKeyConstraint, Index, PrimaryKeyConstraint, Table, UniqueConstraint
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from scanner import models, utctime

HEADER = '''"""The database tables as SQLAlchemy Core, for Core statements, without loading SQLModel.

Generated from ``scanner.models`` by ``python -m scanner.tablegen scanner/tables.py``
(``make tables``): do not edit; change the model and generate again. A test checks that this file
is what the models give.
"""

from __future__ import annotations

'''


def handle_name(model: type[SQLModel]) -> str:
    """A model's handle in ``scanner.tables``: its class name in capitals, words joined by ``_``,
    without a ``Row`` suffix (``ScanRun`` -> ``SCAN_RUN``, ``HoldRow`` -> ``HOLD``)."""
    name = model.__name__.removesuffix("Row")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def table_models() -> list[type[SQLModel]]:
    """The table models, in the order ``scanner.models`` defines them."""
    return [
        value
        for value in vars(models).values()
        if isinstance(value, type) and issubclass(value, SQLModel) and "__table__" in vars(value)
    ]


def render() -> str:
    """The text of ``scanner/tables.py``."""
    names: set[str] = {"Column", "MetaData", "Table"}
    blocks = []
    for model in table_models():
        table = SQLModel.metadata.tables[str(model.__tablename__)]
        lines = [f"{handle_name(model)} = Table(", f"    {_str(table.name)},", "    METADATA,"]
        lines += [f"    {_column(column, names)}," for column in table.columns]
        lines += [f"    {_constraint(item, names)}," for item in _table_items(table)]
        blocks.append("\n".join([*lines, ")"]))
    imports = sorted(names, key=lambda n: (not n.isupper(), n))
    sa_names = [n for n in imports if n not in _LOCAL]
    local = sorted(n for n in names if n in _LOCAL)
    head = ["from sqlalchemy import (", *(f"    {n}," for n in sa_names), ")", ""]
    if local:
        head.append(f"from scanner.utctime import {', '.join(local)}")
    return HEADER + "\n".join(head) + "\n\nMETADATA = MetaData()\n\n" + "\n\n".join(blocks) + "\n"


# Names the generated file takes from scanner.utctime rather than from SQLAlchemy.
_LOCAL = {name for name, value in vars(utctime).items() if callable(value) and value.__module__ == utctime.__name__}


def _str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _column(column: Column[Any], names: set[str]) -> str:
    unsupported = {
        "server_default": column.server_default,
        "server_onupdate": column.server_onupdate,
        "onupdate": column.onupdate,
        "comment": column.comment,
        "computed": column.computed,
        "identity": column.identity,
    }
    if any(value is not None for value in unsupported.values()) or column.key != column.name:
        raise ValueError(f"{column}: the generator does not render {unsupported} or a key that is not the name")
    if column.autoincrement != "auto":
        raise ValueError(f"{column}: the generator renders only autoincrement='auto'")
    parts = [_str(column.name), _type(column.type, names)]
    for fk in sorted(column.foreign_keys, key=lambda f: f.target_fullname):
        names.add("ForeignKey")
        options = "".join(f", {k}={_str(v)}" for k, v in (("ondelete", fk.ondelete), ("onupdate", fk.onupdate)) if v)
        parts.append(f"ForeignKey({_str(fk.target_fullname)}{options})")
    if column.primary_key:
        parts.append("primary_key=True")
    elif not column.nullable:
        parts.append("nullable=False")
    if column.default is not None:
        parts.append(f"default={_default(column, names)}")
    return f"Column({', '.join(parts)})"


def _type(type_: Any, names: set[str]) -> str:
    if isinstance(type_, AutoString):  # SQLModel's str column: a VARCHAR of its length
        names.add("String")
        return f"String({type_.length})" if type_.length is not None else "String()"
    cls = type(type_)
    if cls.__name__ in _LOCAL and getattr(utctime, cls.__name__) is cls:
        names.add(cls.__name__)
        return f"{cls.__name__}()"
    if getattr(sqlalchemy, cls.__name__, None) is cls:
        names.add(cls.__name__)
        return repr(type_)
    raise ValueError(f"column type {type_!r}: not a SQLAlchemy type or one of scanner.utctime's")


def _default(column: Column[Any], names: set[str]) -> str:
    default: Any = column.default
    if default.is_callable:
        fn: Any = getattr(default.arg, "__wrapped__", default.arg)
        name = str(fn.__name__)
        if getattr(utctime, name, None) is fn:
            names.add(name)
            return name
        if fn in (dict, list):
            return name
        raise ValueError(f"{column}: default {fn!r} is not one of scanner.utctime's")
    if not default.is_scalar or not isinstance(default.arg, str | int | float | bool):
        raise ValueError(f"{column}: default {default!r} is not a plain value")
    return _str(default.arg) if isinstance(default.arg, str) else repr(default.arg)


def _table_items(table: Table) -> list[Index | UniqueConstraint]:
    """The table's indexes and unique constraints, every one written out with its name (also those a
    column's ``index=True`` or ``unique=True`` made); primary and foreign keys come with the columns."""
    for constraint in table.constraints:
        if isinstance(constraint, PrimaryKeyConstraint | ForeignKeyConstraint):
            if constraint.name is not None:
                raise ValueError(f"{table.name}: named primary or foreign keys are not rendered")
        elif not isinstance(constraint, UniqueConstraint):
            raise ValueError(f"{table.name}: constraint {constraint!r} is not rendered")
    uniques = [c for c in table.constraints if type(c) is UniqueConstraint]
    return [*sorted(table.indexes, key=lambda i: str(i.name)), *sorted(uniques, key=lambda c: str(c.name))]


def _constraint(item: Index | UniqueConstraint, names: set[str]) -> str:
    names.add(type(item).__name__)
    columns = [_str(c.name) for c in item.columns]
    if len(columns) != len(item.expressions if isinstance(item, Index) else item.columns):
        raise ValueError(f"{item!r}: only indexes on plain columns are rendered")
    name = None if item.name is None else _str(str(item.name))
    if isinstance(item, Index):
        unique = ", unique=True" if item.unique else ""
        return f"Index({name}, {', '.join(columns)}{unique})"
    return f"UniqueConstraint({', '.join(columns)}, name={name})"


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m scanner.tablegen scanner/tables.py")
    Path(argv[0]).write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
