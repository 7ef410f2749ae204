"""``scanner/tables.py`` is generated from the models: it is what they give now, and both describe the
same tables (columns, types on SQLite and PostgreSQL, keys, defaults, indexes, constraints)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, UniqueConstraint
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlmodel import SQLModel

from scanner import models, tablegen, tables

REPO = Path(__file__).resolve().parents[2]
DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}


def test_the_generated_file_is_what_the_models_give() -> None:
    written = (REPO / "scanner" / "tables.py").read_text(encoding="utf-8")
    assert written == tablegen.render(), "scanner/tables.py is out of date: run `make tables`"


def _default(column: Any) -> object:
    if column.default is None:
        return None
    arg = column.default.arg
    return getattr(arg, "__wrapped__", arg) if column.default.is_callable else arg


def _described(table: Table) -> dict[str, object]:
    return {
        "columns": [
            (
                c.name,
                {name: c.type.compile(dialect=d) for name, d in DIALECTS.items()},
                type(c.type).__name__ if type(c.type).__name__ != "AutoString" else "String",
                c.nullable,
                c.primary_key,
                c.autoincrement,
                _default(c),
                sorted((fk.target_fullname, fk.ondelete, fk.onupdate) for fk in c.foreign_keys),
            )
            for c in table.columns
        ],
        "indexes": sorted((str(i.name), tuple(c.name for c in i.columns), i.unique) for i in table.indexes),
        "uniques": sorted(
            (str(c.name), tuple(col.name for col in c.columns))
            for c in table.constraints
            if isinstance(c, UniqueConstraint)
        ),
        "ddl": {
            name: [
                str(CreateTable(table).compile(dialect=d)),
                *sorted(str(CreateIndex(i).compile(dialect=d)) for i in table.indexes),
            ]
            for name, d in DIALECTS.items()
        },
    }


@pytest.mark.parametrize("model", tablegen.table_models(), ids=lambda m: m.__name__)
def test_the_core_table_is_the_models_table(model: type[SQLModel]) -> None:
    table = getattr(tables, tablegen.handle_name(model))
    assert table.metadata is tables.METADATA
    assert _described(table) == _described(SQLModel.metadata.tables[str(model.__tablename__)])


def test_every_table_has_its_handle() -> None:
    assert set(tables.METADATA.tables) == set(SQLModel.metadata.tables)
    assert {tablegen.handle_name(m) for m in tablegen.table_models()} >= {"NOTICE", "CASE", "HOLD", "SCAN_RUN"}
    assert models.Notice.__tablename__ == tables.NOTICE.name


def test_the_core_tables_load_neither_sqlmodel_nor_pydantic() -> None:
    code = "import sys, scanner.tables; print(sorted({'sqlmodel', 'pydantic', 'scanner.models'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
