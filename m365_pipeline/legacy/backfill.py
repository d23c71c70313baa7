"""Backfill of the directory history from reports already migrated (``m365 migrate --refold-history``).

A report migrated before its type had a fold (``legacy.history.REPORT_FOLDS``), or before a fold changed, is in
its typed table and in the ledger but not (or not rightly) in the directory history. ``refold_report`` recomputes
one report's intervals from the typed table, in a transaction of its own, exactly as its migration would have: the
same ``fold_report_history``, so a backfill gives the history a migration in any order gives, and running it
again changes nothing. Reports are taken oldest first per type; each one's intervals are final once the report
after it has been refolded (it ends them), and all are once the run is through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from m365_pipeline.legacy.history import (
    LEGACY_SOURCE_PREFIX,
    REPORT_FOLDS,
    HistoryFoldResult,
    fold_report_history,
)
from m365_pipeline.warehouse import schema


@dataclass(frozen=True)
class MigratedReport:
    report_type: str
    report_timestamp: datetime
    files: int  # migrated files with this type and time (versions of a report, or copies under other names)


def folded_reports(engine: sa.Engine, tenant_id: str) -> list[MigratedReport]:
    """The tenant's migrated reports whose type has a fold, by type, oldest first (one per report time: the ledger
    has a row per file, a few thousand for a whole old Reports/ tree)."""
    ledger = schema.legacy_files
    query = (
        sa.select(ledger.c.report_type, ledger.c.report_timestamp, sa.func.count())
        .where(
            ledger.c.tenant_id == tenant_id,
            ledger.c.report_type.in_(sorted(REPORT_FOLDS)),
            ledger.c.report_timestamp.is_not(None),
        )
        .group_by(ledger.c.report_type, ledger.c.report_timestamp)
        .order_by(ledger.c.report_type, ledger.c.report_timestamp)
    )
    with engine.connect() as connection:
        return [MigratedReport(*row) for row in connection.execute(query)]


def refold_report(engine: sa.Engine, tenant_id: str, report: MigratedReport) -> HistoryFoldResult:
    """Recompute the intervals of one migrated report (and the end of the one before it) in one transaction."""
    with engine.begin() as connection:
        return fold_report_history(connection, tenant_id, report.report_type, report.report_timestamp)


def legacy_history_rows(engine: sa.Engine, tenant_id: str) -> dict[str, int]:
    """Rows of each history table that the old reports gave the tenant (source legacy:<report type>)."""
    counts = {}
    with engine.connect() as connection:
        for table in (schema.user_history, schema.license_history, schema.group_history, schema.group_member_history):
            counts[table.name] = connection.execute(
                sa.select(sa.func.count())
                .select_from(table)
                .where(table.c.tenant_id == tenant_id, table.c.source.startswith(LEGACY_SOURCE_PREFIX))
            ).scalar_one()
    return counts
