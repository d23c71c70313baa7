from __future__ import annotations

import pytest
import sqlalchemy as sa

from m365_pipeline.warehouse.schema import TABLES, PiiClass, metadata, table_column_schema

ALL_COLUMNS = [(table.name, column) for table in metadata.sorted_tables for column in table.columns]


@pytest.mark.parametrize(("table_name", "column"), ALL_COLUMNS, ids=[f"{t}.{c.name}" for t, c in ALL_COLUMNS])
def test_every_column_is_documented_and_classified(table_name: str, column: sa.Column[object]) -> None:
    description = column.info["description"]
    assert isinstance(description, str) and len(description) > 5
    assert column.comment == description
    assert isinstance(column.info["pii"], PiiClass)


def test_every_table_is_documented_and_keyed_by_tenant() -> None:
    for table in metadata.sorted_tables:
        assert table.comment, table.name
        tenant_id = table.c.tenant_id
        assert isinstance(tenant_id.type, sa.String) and tenant_id.type.length == 36
        if table.name != "quarantine":
            assert tenant_id.primary_key, table.name
    assert sorted(TABLES) == [
        "application_credentials",
        "applications",
        "conditional_access_policies",
        "directory_roles",
        "group_members",
        "group_owners",
        "group_transitive_members",
        "groups",
        "role_assignments",
        "service_principal_credentials",
        "service_principals",
        "sku_service_plans",
        "skus",
        "user_licenses",
        "user_registration_details",
        "users",
    ]


@pytest.mark.parametrize(
    ("table_name", "column_name", "pii"),
    [
        ("users", "user_principal_name", PiiClass.DIRECT),
        ("users", "mail", PiiClass.DIRECT),
        ("users", "display_name", PiiClass.DIRECT),
        ("users", "given_name", PiiClass.DIRECT),
        ("users", "surname", PiiClass.DIRECT),
        ("users", "mobile_phone", PiiClass.DIRECT),
        ("users", "business_phones", PiiClass.DIRECT),
        ("users", "id", PiiClass.QUASI),
        ("users", "department", PiiClass.QUASI),
        ("users", "job_title", PiiClass.QUASI),
        ("users", "office_location", PiiClass.QUASI),
        ("users", "usage_location", PiiClass.QUASI),
        ("users", "created_at", PiiClass.QUASI),
        ("users", "last_sign_in_at", PiiClass.QUASI),
        ("users", "last_successful_sign_in_at", PiiClass.QUASI),
        ("user_licenses", "user_id", PiiClass.QUASI),
        ("users", "account_enabled", PiiClass.NONE),
        ("users", "tenant_id", PiiClass.NONE),
        ("skus", "sku_part_number", PiiClass.NONE),
        ("quarantine", "raw", PiiClass.DIRECT),
    ],
)
def test_pii_classes(table_name: str, column_name: str, pii: PiiClass) -> None:
    assert metadata.tables[table_name].c[column_name].info["pii"] is pii


def test_column_schema_for_the_catalog() -> None:
    schema = table_column_schema(metadata.tables["user_licenses"])
    assert schema == [
        ("tenant_id", "VARCHAR(36)", "Entra ID tenant (directory) id the row belongs to."),
        ("user_id", "VARCHAR(36)", "Object id of the user holding the license (users.id)."),
        ("sku_id", "VARCHAR(36)", "Id of the assigned license SKU (skus.sku_id)."),
        (
            "disabled_plans",
            "TEXT",
            'Service plan ids disabled for this user, sorted, "; "-joined; empty when none.',
        ),
    ]
    types = {name: type_name for name, type_name, _ in table_column_schema(metadata.tables["users"])}
    assert types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["account_enabled"] == "BOOLEAN"
