"""Usage report tables, one per report, made from the report declarations (``entities.usage_reports``).

A report is a snapshot as of its refresh date: a load replaces the rows of one tenant, period and refresh date
(earlier refresh dates stay, as history). Rows are numbered in the file's order, since no column is a reliable key
(deleted and new users may share a name; concealed names are hashes). ``names_concealed`` says, per row, whether
the tenant concealed names in the report; ``usage_report_loads`` is the provenance of each load.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from m365_pipeline.entities.usage_reports import USAGE_REPORTS, ReportColumn, UsageReportSpec
from m365_pipeline.warehouse.schema import PiiClass, UtcDateTime, _column, _tenant_id, metadata

_TYPES: dict[str, Any] = {"text": sa.Text, "date": sa.Date, "int": sa.BigInteger, "bool": sa.Boolean}


def _report_column(column: ReportColumn) -> sa.Column[Any]:
    return _column(
        column.name,
        _TYPES[column.kind](),
        f"{column.documented} (CSV column '{column.header}')",
        PiiClass(column.pii.value),
        primary_key=column.name == "report_refresh_date",
    )


def _period() -> sa.Column[Any]:
    return _column("period", sa.String(4), "Period requested: D7, D30, D90 or D180.", PiiClass.NONE, primary_key=True)


def _table(report: UsageReportSpec) -> sa.Table:
    return sa.Table(
        f"usage_{report.name}",
        metadata,
        _tenant_id(),
        _period(),
        *(_report_column(column) for column in report.columns),
        _column(
            "row_number", sa.Integer(), "1-based position of the row in the report.", PiiClass.NONE, primary_key=True
        ),
        _column(
            "names_concealed",
            sa.Boolean(),
            "Whether the tenant concealed names in this report (the name columns hold hashes).",
            PiiClass.NONE,
            nullable=False,
        ),
        comment=f"{report.title} From Microsoft Graph reports/{report.function}.",
    )


USAGE_TABLES: dict[str, sa.Table] = {name: _table(report) for name, report in USAGE_REPORTS.items()}

usage_report_loads = sa.Table(
    "usage_report_loads",
    metadata,
    _tenant_id(),
    _column("report", sa.String(64), "Usage report (its table without usage_).", PiiClass.NONE, primary_key=True),
    _period(),
    _column("report_refresh_date", sa.Date(), "Refresh date of the loaded report.", PiiClass.NONE, primary_key=True),
    _column("rows", sa.Integer(), "Rows loaded.", PiiClass.NONE, nullable=False),
    _column("names_concealed", sa.Boolean(), "Whether names were concealed (hashes).", PiiClass.NONE, nullable=False),
    _column("missing_columns", sa.Text(), 'Declared columns the CSV lacked, "; "-joined.', PiiClass.NONE),
    _column("extra_columns", sa.Text(), 'CSV columns not declared (ignored), "; "-joined.', PiiClass.NONE),
    _column("raw_path", sa.Text(), "The raw file the report was loaded from.", PiiClass.NONE, nullable=False),
    _column("raw_sha256", sa.String(64), "SHA-256 of that raw file.", PiiClass.NONE, nullable=False),
    _column("loaded_at", UtcDateTime(), "When the report was loaded (UTC).", PiiClass.NONE, nullable=False),
    comment="Provenance of each loaded usage report: its raw file, rows, concealment and column drift.",
)
