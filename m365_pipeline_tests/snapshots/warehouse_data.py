"""A small warehouse with the real schema (migrated to head) and realistic rows, and what tests compare it by."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import uuid
from typing import Any

import sqlalchemy as sa

from m365_pipeline.warehouse import schema
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline.warehouse.migrate import upgrade_to_head

TENANT = "11111111-2222-3333-4444-555555555555"
SKUS = {
    "sku-e3": ("6fd2c87f-b296-42f0-b197-1e91e994b900", "ENTERPRISEPACK"),
    "sku-e5": ("c7df2760-2c81-4ef7-b578-5b5392b571df", "ENTERPRISEPREMIUM"),
    "sku-f3": ("66b55226-6b4f-492c-910c-a3b7a3c9d993", "SPE_F1"),
}
BASE_TIME = dt.datetime(2024, 6, 24, 6, 0, tzinfo=dt.UTC)


def _user_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128)))


def _user(rng: random.Random, number: int) -> dict[str, Any]:
    return {
        "tenant_id": TENANT,
        "id": _user_id(rng),
        "user_principal_name": f"user{number}@contoso.example",
        "display_name": f"ユーザー {number}",
        "given_name": "太郎" if number % 2 else "Anna",
        "surname": f"Surname{number}",
        "mail": f"user{number}@contoso.example",
        "job_title": rng.choice(["Engineer", "Sales", None]),
        "department": rng.choice(["IT", "営業", "HR"]),
        "office_location": None,
        "usage_location": "JP",
        "preferred_language": "ja-JP",
        "account_enabled": rng.random() > 0.1,
        "user_type": "Member",
        "created_at": BASE_TIME - dt.timedelta(days=rng.randrange(1000)),
        "on_premises_sync_enabled": None if number % 3 else True,
        "business_phones": "+81 3 1234 5678" if number % 4 else "",
        "mobile_phone": None,
        "last_sign_in_at": BASE_TIME - dt.timedelta(seconds=rng.randrange(10**6)),
        "last_non_interactive_sign_in_at": None,
        "last_successful_sign_in_at": BASE_TIME - dt.timedelta(microseconds=rng.randrange(10**12)),
    }


def populate(url: str, users: int = 300, seed: int = 1) -> sa.Engine:
    """Migrate ``url`` to head and fill it; returns its engine (dispose it)."""
    engine = create_warehouse_engine(url)
    upgrade_to_head(engine)
    rng = random.Random(seed)
    user_rows = [_user(rng, n) for n in range(users)]
    with engine.begin() as connection:
        connection.execute(
            schema.tenants.insert(),
            [
                {
                    "tenant_id": TENANT,
                    "display_name": "Contoso",
                    "default_domain": "contoso.example",
                    "first_seen_at": BASE_TIME,
                    "last_seen_at": BASE_TIME,
                }
            ],
        )
        connection.execute(schema.users.insert(), user_rows)
        connection.execute(
            schema.skus.insert(),
            [
                {
                    "tenant_id": TENANT,
                    "sku_id": sku_id,
                    "sku_part_number": part,
                    "account_name": "contoso",
                    "applies_to": "User",
                    "capability_status": "Enabled",
                    "consumed_units": 10,
                    "prepaid_enabled": 100,
                    "prepaid_locked_out": 0,
                    "prepaid_suspended": 0,
                    "prepaid_warning": 0,
                    "service_plan_names": "EXCHANGE_S_ENTERPRISE; SHAREPOINTENTERPRISE",
                }
                for sku_id, part in SKUS.values()
            ],
        )
        connection.execute(
            schema.user_licenses.insert(),
            [
                {"tenant_id": TENANT, "user_id": row["id"], "sku_id": sku_id, "disabled_plans": ""}
                for n, row in enumerate(user_rows)
                for key, (sku_id, _) in SKUS.items()
                if (n + len(key)) % (2 if key == "sku-e3" else 5) == 0
            ],
        )
    return engine


def contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, sorted, as comparable tuples (timestamps in UTC)."""
    engine = sa.create_engine(
        sa.make_url(url).set(drivername="postgresql+psycopg") if url.startswith("postgresql") else url
    )
    try:
        with engine.connect() as connection:
            metadata = sa.MetaData()
            metadata.reflect(connection)
            found = {}
            for name, table in metadata.tables.items():
                if name == "m365_restore_state":
                    continue
                rows = [tuple(_plain(v) for v in row) for row in connection.execute(sa.select(table))]
                found[name] = sorted(rows, key=repr)
            return found
    finally:
        engine.dispose()


def checksums(url: str) -> dict[str, str]:
    """Per-table checksums of ``contents`` (what the Done-means compares)."""
    return {
        name: hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest() for name, rows in contents(url).items()
    }


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return (value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
    return value
