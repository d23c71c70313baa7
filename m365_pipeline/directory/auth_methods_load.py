"""Load the tenant's users' authentication methods from the raw store into the warehouse, in one transaction.

The raw file is read a record batch at a time and validated against the entity's spec; a record that fails goes to
the quarantine table with its field and reason, the others are typed and written. The tenant's rows, its previous
quarantine entries for the table and its provenance row are replaced together: a load killed midway leaves the
previous load, and a re-run of the same file gives the same rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa

from m365_pipeline.directory.auth_methods import (
    DIRECTORY_EXTRACT_KEY,
    EXTRACTED_AT_KEY,
    SNAPSHOT,
    USERS_ASKED_KEY,
    USERS_NOT_FOUND_KEY,
)
from m365_pipeline.entities.auth_methods import METHOD_TYPES, USER_AUTHENTICATION_METHODS, UserAuthenticationMethod
from m365_pipeline.entities.spec import InvalidRecord
from m365_pipeline.raw_store import RawStore
from m365_pipeline.warehouse.auth_method_tables import user_authentication_method_loads, user_authentication_methods
from m365_pipeline.warehouse.schema import quarantine, users
from m365_pipeline.warehouse.staging import write_rows

TABLE = user_authentication_methods.name


@dataclass(frozen=True)
class MethodsLoad:
    tenant_id: str
    directory_extract_id: str
    users_asked: int
    users_not_found: int
    methods: int
    quarantined: int
    raw_path: str


def load_authentication_methods(engine: sa.Engine, store: RawStore, tenant: str) -> MethodsLoad:
    path = store.path(USER_AUTHENTICATION_METHODS.name, tenant, SNAPSHOT)
    where = store.location(path)
    if not store.exists(path):
        raise FileNotFoundError(
            f"tenant {tenant}: no {where}; materialize raw/{USER_AUTHENTICATION_METHODS.name} first"
        )
    metadata = store.file_metadata(path)
    tenant_id = metadata["m365.tenant_id"]
    counts = {"methods": 0, "quarantined": 0}
    with engine.begin() as connection:
        connection.execute(
            user_authentication_methods.delete().where(user_authentication_methods.c.tenant_id == tenant_id)
        )
        connection.execute(quarantine.delete().where(quarantine.c.tenant_id == tenant_id, quarantine.c.entity == TABLE))
        number = 0
        for batch in store.iter_record_batches(path):
            rows, rejected = [], []
            for record in batch:
                number += 1
                try:
                    method = cast(UserAuthenticationMethod, USER_AUTHENTICATION_METHODS.validate(record))
                    rows.append(_row(tenant_id, method))
                except InvalidRecord as error:
                    rejected.append(_quarantined(tenant_id, where, number, record, error))
            write_rows(connection, user_authentication_methods, rows)
            if rejected:
                connection.execute(quarantine.insert(), rejected)
            counts["methods"] += len(rows)
            counts["quarantined"] += len(rejected)
        load = MethodsLoad(
            tenant_id=tenant_id,
            directory_extract_id=metadata[DIRECTORY_EXTRACT_KEY],
            users_asked=int(metadata[USERS_ASKED_KEY]),
            users_not_found=int(metadata[USERS_NOT_FOUND_KEY]),
            methods=counts["methods"],
            quarantined=counts["quarantined"],
            raw_path=where,
        )
        _record_provenance(connection, load, store.sha256(path), metadata.get(EXTRACTED_AT_KEY))
    return load


def _row(tenant_id: str, method: UserAuthenticationMethod) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "user_id": method.userId,
        "method_id": method.id,
        "method_type": METHOD_TYPES.get(method.odataType, method.odataType),
        "odata_type": method.odataType,
        "display_name": method.displayName,
        "registered_at": method.createdDateTime,
        "phone_number": method.phoneNumber,
        "phone_type": method.phoneType,
        "sms_sign_in_state": method.smsSignInState,
        "email_address": method.emailAddress,
        "device_tag": method.deviceTag,
        "app_version": method.phoneAppVersion,
        "aa_guid": method.aaGuid,
        "model": method.model,
        "attestation_level": method.attestationLevel,
        "key_strength": method.keyStrength,
        "is_usable": method.isUsable,
        "lifetime_in_minutes": method.lifetimeInMinutes,
    }


def _quarantined(
    tenant_id: str, where: str, number: int, record: dict[str, Any], error: InvalidRecord
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "extract_id": None,
        "entity": TABLE,
        "source": where,
        "row_number": number,
        "field": ", ".join(problem.field for problem in error.problems),
        "reason": str(error),
        "raw": json.dumps(record, ensure_ascii=False, default=str),
        "quarantined_at": datetime.now(UTC),
    }


def _record_provenance(connection: sa.Connection, load: MethodsLoad, sha256: str, extracted_at: str | None) -> None:
    loads = user_authentication_method_loads
    connection.execute(loads.delete().where(loads.c.tenant_id == load.tenant_id))
    connection.execute(
        loads.insert().values(
            tenant_id=load.tenant_id,
            directory_extract_id=load.directory_extract_id,
            users_asked=load.users_asked,
            users_not_found=load.users_not_found,
            methods=load.methods,
            quarantined=load.quarantined,
            raw_path=load.raw_path,
            raw_sha256=sha256,
            extracted_at=datetime.fromisoformat(extracted_at) if extracted_at else None,
            loaded_at=datetime.now(UTC),
        )
    )


def methods_of_unknown_users(connection: sa.Connection, tenant_id: str) -> list[str]:
    """Users with methods in the warehouse who are not users of the tenant in ``users`` (deleted since the
    methods were extracted, or the directory was published from an older extract), described."""
    methods = user_authentication_methods
    known = sa.select(users.c.id).where(users.c.tenant_id == tenant_id)
    query = (
        sa.select(methods.c.user_id, sa.func.count())
        .where(methods.c.tenant_id == tenant_id, methods.c.user_id.not_in(known))
        .group_by(methods.c.user_id)
        .order_by(methods.c.user_id)
    )
    return [
        f"user {user_id}: {count} methods, not a user of the tenant" for user_id, count in connection.execute(query)
    ]
