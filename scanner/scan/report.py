"""Where the rescan commands find a run's report: ``scanner.report`` holds it (this name stays for
the callers written against it), and a JSON document written as the commands write it."""

from __future__ import annotations

import json
from typing import IO, Any

from scanner.report.rows import REPORT_SCHEMA, build_report, iter_rows
from scanner.report.runs import ReportError, find_run, run_summary

__all__ = ["REPORT_SCHEMA", "ReportError", "build_report", "find_run", "iter_rows", "run_summary", "write_json"]


def write_json(document: dict[str, Any], out: IO[str]) -> None:
    json.dump(document, out, ensure_ascii=False, indent=2)
    out.write("\n")
