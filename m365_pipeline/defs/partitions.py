"""The partition scheme: the tenant is the first dimension of every asset.

Directory assets (a tenant's extract, its warehouse tables, its reports) are partitioned by tenant alone. The
time-windowed sources of the next issues (sign-ins, audits, call records) add a day:
``MultiPartitionsDefinition({"tenant": tenant_partitions(...), "day": DailyPartitionsDefinition(...)})``, keyed
``<day>|<tenant>``, so a backfill names a tenant and a date range.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg


def tenant_partitions(tenants: Sequence[str]) -> dg.StaticPartitionsDefinition:
    """One partition per configured tenant (M365_TENANT_ID, or one per M365_EMULATOR_SEED)."""
    return dg.StaticPartitionsDefinition(list(tenants))
