"""Users' registered authentication methods (the opt-in extraction through $batch) and the provenance of each
tenant's load.

Revision ID: 0006_dirbatch
Revises: 0005_activity
Create Date: 2026-12-02
"""

# ruff: noqa: E501 (column comments are the catalog's descriptions, kept whole)

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_dirbatch"
down_revision: str | None = "0005_activity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_authentication_method_loads",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column(
            "directory_extract_id",
            sa.String(length=64),
            nullable=False,
            comment="The directory extract whose users were asked (extracts.extract_id).",
        ),
        sa.Column("users_asked", sa.Integer(), nullable=False, comment="Users whose methods were requested."),
        sa.Column(
            "users_not_found",
            sa.Integer(),
            nullable=False,
            comment="Users deleted between the directory extract and their request (Graph answered 404).",
        ),
        sa.Column("methods", sa.Integer(), nullable=False, comment="Method rows loaded."),
        sa.Column("quarantined", sa.Integer(), nullable=False, comment="Raw records rejected to the quarantine table."),
        sa.Column("raw_path", sa.Text(), nullable=False, comment="The raw file the methods were loaded from."),
        sa.Column("raw_sha256", sa.String(length=64), nullable=False, comment="SHA-256 of that raw file."),
        sa.Column(
            "extracted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the raw file was extracted from Graph (UTC).",
        ),
        sa.Column(
            "loaded_at", sa.DateTime(timezone=True), nullable=False, comment="When the methods were loaded (UTC)."
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_user_authentication_method_loads")),
        comment="Provenance of the tenant's users' authentication methods: the raw file, the directory extract, counts.",
    )
    op.create_table(
        "user_authentication_methods",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column("user_id", sa.String(length=36), nullable=False, comment="Object id of the user (users.id)."),
        sa.Column("method_id", sa.String(length=256), nullable=False, comment="Id of the method (Graph's)."),
        sa.Column(
            "method_type",
            sa.String(length=64),
            nullable=False,
            comment="password, phone, email, fido2, microsoftAuthenticator, softwareOath, temporaryAccessPass, windowsHelloForBusiness or platformCredential; another type as Graph named it.",
        ),
        sa.Column("odata_type", sa.Text(), nullable=False, comment="Graph type of the method (@odata.type)."),
        sa.Column("display_name", sa.Text(), nullable=True, comment="Name of the device or key."),
        sa.Column(
            "registered_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the method was registered (UTC), when Graph says.",
        ),
        sa.Column("phone_number", sa.Text(), nullable=True, comment="Phone number of a phone method."),
        sa.Column(
            "phone_type",
            sa.String(length=32),
            nullable=True,
            comment="mobile, alternateMobile or office (phone method).",
        ),
        sa.Column(
            "sms_sign_in_state", sa.String(length=64), nullable=True, comment="Whether the phone may sign in by SMS."
        ),
        sa.Column("email_address", sa.Text(), nullable=True, comment="Address of an email method."),
        sa.Column("device_tag", sa.String(length=128), nullable=True, comment="Tag of the Authenticator app's device."),
        sa.Column("app_version", sa.String(length=64), nullable=True, comment="Version of the Authenticator app."),
        sa.Column(
            "aa_guid",
            sa.String(length=36),
            nullable=True,
            comment="Authenticator attestation GUID of a FIDO2 key's model.",
        ),
        sa.Column("model", sa.Text(), nullable=True, comment="Model of a FIDO2 key."),
        sa.Column(
            "attestation_level", sa.String(length=32), nullable=True, comment="attested or notAttested (FIDO2 key)."
        ),
        sa.Column(
            "key_strength",
            sa.String(length=32),
            nullable=True,
            comment="normal, weak or unknown (Windows Hello, platform credential).",
        ),
        sa.Column(
            "is_usable", sa.Boolean(), nullable=True, comment="Whether a temporary access pass can still be used."
        ),
        sa.Column("lifetime_in_minutes", sa.Integer(), nullable=True, comment="Lifetime of a temporary access pass."),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", "method_id", name=op.f("pk_user_authentication_methods")),
        comment="Each user's registered authentication methods (Microsoft Graph /users/{id}/authentication/methods).",
    )


def downgrade() -> None:
    op.drop_table("user_authentication_methods")
    op.drop_table("user_authentication_method_loads")
