"""Load a usage report from its raw file into its warehouse table, by CSV header name, in one transaction.

The raw file holds the report as Graph sent it (every column, text). Each declared column is found by its header;
one the file lacks is null (named in ``missing_columns``) unless the declaration requires it, which fails the load
naming the file and column; a column the declaration lacks is ignored (named in ``extra_columns``). Values are
typed here (dates, integers, True/False); a value that does not parse fails the load naming file, row and column.
The rows of the tenant, period and refresh date are replaced in one transaction with the load's provenance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from m365_pipeline.entities.usage_reports import ReportColumn, UsageReportSpec
from m365_pipeline.raw_store import RawStore
from m365_pipeline.usage.extract import CONCEALED_KEY, HEADERS_KEY, REFRESH_DATE_KEY, raw_entity
from m365_pipeline.warehouse.staging import write_rows
from m365_pipeline.warehouse.usage_tables import USAGE_TABLES, usage_report_loads


class ReportColumnMissingError(ValueError):
    """The report lacks a column the pipeline cannot do without."""


@dataclass(frozen=True)
class ReportLoad:
    report: str
    tenant_id: str
    period: str
    refresh_date: date | None
    rows: int
    names_concealed: bool
    missing_columns: tuple[str, ...]
    extra_columns: tuple[str, ...]
    raw_path: str


def load_report(engine: sa.Engine, store: RawStore, report: UsageReportSpec, tenant: str, period: str) -> ReportLoad:
    path = store.path(raw_entity(report), tenant, period)
    where = store.location(path)
    if not store.exists(path):
        raise FileNotFoundError(f"{report.name} {period} of tenant {tenant}: no raw file {where}; extract it first")
    metadata = store.file_metadata(path)
    tenant_id = metadata["m365.tenant_id"]
    headers: list[str] = json.loads(metadata[HEADERS_KEY])
    concealed = metadata.get(CONCEALED_KEY) == "true"
    refresh_text = metadata.get(REFRESH_DATE_KEY) or None
    refresh_date = _date(refresh_text, where, 1, "Report Refresh Date") if refresh_text else None
    declared = {column.header for column in report.columns}
    missing = tuple(column.header for column in report.columns if column.header not in headers)
    required = [column.header for column in report.columns if column.required and column.header in missing]
    if required:
        raise ReportColumnMissingError(f"{where}: the report has no column {required[0]!r}")
    extra = tuple(header for header in headers if header not in declared)
    table = USAGE_TABLES[report.name]
    rows = 0
    with engine.begin() as connection:
        if refresh_date is not None:
            connection.execute(
                table.delete().where(
                    table.c.tenant_id == tenant_id,
                    table.c.period == period,
                    table.c.report_refresh_date == refresh_date,
                )
            )
        for batch in store.iter_record_batches(path):
            typed = [
                _row(report, record, tenant_id, period, rows + offset + 1, concealed, where)
                for offset, record in enumerate(batch)
            ]
            write_rows(connection, table, typed)
            rows += len(typed)
        if refresh_date is not None:
            connection.execute(
                usage_report_loads.delete().where(
                    usage_report_loads.c.tenant_id == tenant_id,
                    usage_report_loads.c.report == report.name,
                    usage_report_loads.c.period == period,
                    usage_report_loads.c.report_refresh_date == refresh_date,
                )
            )
            connection.execute(
                usage_report_loads.insert().values(
                    tenant_id=tenant_id,
                    report=report.name,
                    period=period,
                    report_refresh_date=refresh_date,
                    rows=rows,
                    names_concealed=concealed,
                    missing_columns="; ".join(missing),
                    extra_columns="; ".join(extra),
                    raw_path=where,
                    raw_sha256=store.sha256(path),
                    loaded_at=datetime.now(UTC),
                )
            )
    return ReportLoad(report.name, tenant_id, period, refresh_date, rows, concealed, missing, extra, where)


def _row(
    report: UsageReportSpec,
    record: dict[str, Any],
    tenant_id: str,
    period: str,
    number: int,
    concealed: bool,
    where: str,
) -> dict[str, Any]:
    row: dict[str, Any] = {"tenant_id": tenant_id, "period": period, "row_number": number, "names_concealed": concealed}
    for column in report.columns:
        row[column.name] = _value(column, record.get(column.header), where, number)
    return row


def _value(column: ReportColumn, text: str | None, where: str, number: int) -> Any:
    if text is None or text == "":
        return None
    if column.kind == "text":
        return text
    if column.kind == "date":
        return _date(text, where, number, column.header)
    if column.kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{where} row {number}, column {column.header!r}: {text!r} is not an integer") from None
    folded = text.strip().lower()
    if folded not in ("true", "false"):
        raise ValueError(f"{where} row {number}, column {column.header!r}: {text!r} is not True or False")
    return folded == "true"


def _date(text: str, where: str, number: int, header: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{where} row {number}, column {header!r}: {text!r} is not a date (YYYY-MM-DD)") from None
