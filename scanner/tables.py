"""Typed handles on the tables of ``scanner.models``, for SQLAlchemy Core statements.

SQLModel creates a model's ``__table__`` at run time and does not declare it to
type checkers; the handles here are looked up once, in the models' metadata, so
no module needs to reach for ``__table__`` itself.
"""

from __future__ import annotations

from sqlalchemy import Table
from sqlmodel import SQLModel

from scanner import models


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a table model."""
    return SQLModel.metadata.tables[str(model.__tablename__)]


SUBSCRIBER = table_of(models.Subscriber)
PHOTO = table_of(models.Photo)
SCAN_RUN = table_of(models.ScanRun)
SCAN_SHARD = table_of(models.ScanShard)
MEASUREMENT = table_of(models.Measurement)
FINDING = table_of(models.Finding)
CASE = table_of(models.Case)
CASE_TRANSITION = table_of(models.CaseTransition)
NOTICE = table_of(models.Notice)
HOLD = table_of(models.HoldRow)
AUDIT_EVENT = table_of(models.AuditEvent)
CASE_SYNC = table_of(models.CaseSync)
REMEDIATION = table_of(models.Remediation)
SUSPENSION_EXPORT = table_of(models.SuspensionExport)
