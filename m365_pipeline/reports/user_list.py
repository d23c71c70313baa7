"""The Entra ID user list (ユーザー一覧), in the old tool's Gen-3 `AllUsers` layout.

One row per user of the tenant, read from the warehouse in a single query (users joined to their licenses and
the tenant's SKUs) and streamed to the CSV writer, so memory stays flat however large the tenant is.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from m365_pipeline.reports.powershell_csv import write_new_powershell_csv
from m365_pipeline.reports.sku_names import sku_display_name
from m365_pipeline.warehouse.schema import skus, user_licenses, users

USER_LIST_REPORT_NAME = "AllUsers"
USER_LIST_FOLDER = "EntraIDManagement"
# (column, type, description, PII class, nullable): the report's column catalog, in the file's order
USER_LIST_COLUMNS = (
    ("DisplayName", "string", "Name shown for the user in the address book.", "direct_identifier", True),
    ("UserPrincipalName", "string", "Sign-in name of the user (user@domain).", "direct_identifier", False),
    ("Email", "string", "Primary SMTP address.", "direct_identifier", True),
    ("Department", "string", "Department.", "quasi_identifier", True),
    ("JobTitle", "string", "Job title.", "quasi_identifier", True),
    ("AccountStatus", "string", "有効 (enabled) or 無効 (disabled); empty when Graph did not say.", "none", True),
    (
        "LicenseStatus",
        "string",
        "The user's products by display name, sorted, comma-joined; ライセンスなし when none.",
        "none",
        False,
    ),
    (
        "CreationDate",
        "string",
        "When the user was created, yyyy-MM-dd in the report time zone.",
        "quasi_identifier",
        True,
    ),
    (
        "LastSignIn",
        "string",
        "Last interactive sign-in, yyyy-MM-dd HH:mm:ss in the report time zone; サインイン履歴なし when never.",
        "quasi_identifier",
        False,
    ),
    ("UsageLocation", "string", "Two-letter country code where licensed services are used.", "quasi_identifier", True),
    ("Id", "string", "Object id of the user in Entra ID.", "quasi_identifier", False),
)
USER_LIST_HEADER = tuple(column[0] for column in USER_LIST_COLUMNS)

ACCOUNT_ENABLED = "有効"
ACCOUNT_DISABLED = "無効"
NO_LICENSE = "ライセンスなし"
NEVER_SIGNED_IN = "サインイン履歴なし"

_FETCH_BATCH = 2_000

_JoinedRow = sa.Row[*tuple[Any, ...]]


@dataclass(frozen=True)
class ReportResult:
    path: Path
    rows: int


def _listed_users(tenant_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    """The tenant's users as Graph's ``/users`` lists them: a soft-deleted user (kept by a delta round until it is
    restored or deleted for good) is not among them."""
    return users.c.tenant_id == tenant_id, users.c.deleted_at.is_(None)


def count_listed_users(connection: sa.Connection, tenant_id: str) -> int:
    """How many rows the user list of ``tenant_id`` holds (one per listed user)."""
    return int(connection.execute(sa.select(sa.func.count()).where(*_listed_users(tenant_id))).scalar_one())


def user_list_rows(connection: sa.Connection, tenant_id: str, timezone: ZoneInfo) -> Iterator[tuple[str | None, ...]]:
    """The report's rows for `tenant_id`, ordered by user principal name, times shown in `timezone`."""
    query = (
        sa.select(
            users.c.id,
            users.c.display_name,
            users.c.user_principal_name,
            users.c.mail,
            users.c.department,
            users.c.job_title,
            users.c.account_enabled,
            users.c.created_at,
            users.c.last_sign_in_at,
            users.c.usage_location,
            user_licenses.c.sku_id,
            skus.c.sku_part_number,
        )
        .select_from(
            users.outerjoin(
                user_licenses,
                sa.and_(user_licenses.c.tenant_id == users.c.tenant_id, user_licenses.c.user_id == users.c.id),
            ).outerjoin(
                skus,
                sa.and_(skus.c.tenant_id == user_licenses.c.tenant_id, skus.c.sku_id == user_licenses.c.sku_id),
            )
        )
        .where(*_listed_users(tenant_id))
        # The id breaks ties so that each user's license rows stay adjacent for the grouping below.
        .order_by(users.c.user_principal_name, users.c.id)
        .execution_options(yield_per=_FETCH_BATCH)
    )
    result = connection.execute(query)
    for _, user_rows in itertools.groupby(result, key=lambda row: row.id):
        license_rows = list(user_rows)
        yield _report_row(license_rows[0], _license_status(license_rows), timezone)


def write_user_list(
    connection: sa.Connection, tenant_id: str, reports_dir: Path, at: datetime, timezone: ZoneInfo
) -> ReportResult:
    """Write the user list of `tenant_id` as of `at` under `reports_dir`, the file named in `timezone`."""
    if at.utcoffset() is None:
        raise ValueError(f"report time must be timezone-aware, got naive {at.isoformat()}")
    path, count = write_new_powershell_csv(
        reports_dir / USER_LIST_FOLDER,
        USER_LIST_REPORT_NAME,
        at.astimezone(timezone),
        USER_LIST_HEADER,
        user_list_rows(connection, tenant_id, timezone),
    )
    return ReportResult(path=path, rows=count)


def _report_row(user: _JoinedRow, license_status: str, timezone: ZoneInfo) -> tuple[str | None, ...]:
    created_at = user.created_at
    last_sign_in_at = user.last_sign_in_at
    return (
        user.display_name,
        user.user_principal_name,
        user.mail,
        user.department,
        user.job_title,
        _account_status(user.account_enabled),
        license_status,
        None if created_at is None else f"{created_at.astimezone(timezone):%Y-%m-%d}",
        NEVER_SIGNED_IN if last_sign_in_at is None else f"{last_sign_in_at.astimezone(timezone):%Y-%m-%d %H:%M:%S}",
        user.usage_location,
        user.id,
    )


def _license_status(license_rows: Sequence[_JoinedRow]) -> str:
    """The user's products, sorted by name; a SKU the tenant no longer lists is shown by its id."""
    names = sorted(
        sku_display_name(row.sku_part_number) if row.sku_part_number is not None else str(row.sku_id)
        for row in license_rows
        if row.sku_id is not None
    )
    return ", ".join(names) if names else NO_LICENSE


def _account_status(account_enabled: bool | None) -> str | None:
    if account_enabled is None:
        return None
    return ACCOUNT_ENABLED if account_enabled else ACCOUNT_DISABLED
