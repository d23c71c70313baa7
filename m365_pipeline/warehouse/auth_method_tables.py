"""Users' registered authentication methods (the opt-in ``user_authentication_methods`` extraction): one row per
user and method, replaced whole for the tenant by each load, and the provenance of the load the tenant holds."""

from __future__ import annotations

import sqlalchemy as sa

from m365_pipeline.warehouse.schema import (
    EXTRACT_ID_LENGTH,
    GUID_LENGTH,
    PiiClass,
    UtcDateTime,
    _column,
    _tenant_id,
    metadata,
)

user_authentication_methods = sa.Table(
    "user_authentication_methods",
    metadata,
    _tenant_id(),
    _column("user_id", sa.String(GUID_LENGTH), "Object id of the user (users.id).", PiiClass.QUASI, primary_key=True),
    _column("method_id", sa.String(256), "Id of the method (Graph's).", PiiClass.QUASI, primary_key=True),
    _column(
        "method_type",
        sa.String(64),
        "password, phone, email, fido2, microsoftAuthenticator, softwareOath, temporaryAccessPass, "
        "windowsHelloForBusiness or platformCredential; another type as Graph named it.",
        PiiClass.NONE,
        nullable=False,
    ),
    _column("odata_type", sa.Text(), "Graph type of the method (@odata.type).", PiiClass.NONE, nullable=False),
    _column("display_name", sa.Text(), "Name of the device or key.", PiiClass.QUASI),
    _column("registered_at", UtcDateTime(), "When the method was registered (UTC), when Graph says.", PiiClass.QUASI),
    _column("phone_number", sa.Text(), "Phone number of a phone method.", PiiClass.DIRECT),
    _column("phone_type", sa.String(32), "mobile, alternateMobile or office (phone method).", PiiClass.NONE),
    _column("sms_sign_in_state", sa.String(64), "Whether the phone may sign in by SMS.", PiiClass.NONE),
    _column("email_address", sa.Text(), "Address of an email method.", PiiClass.DIRECT),
    _column("device_tag", sa.String(128), "Tag of the Authenticator app's device.", PiiClass.NONE),
    _column("app_version", sa.String(64), "Version of the Authenticator app.", PiiClass.NONE),
    _column("aa_guid", sa.String(GUID_LENGTH), "Authenticator attestation GUID of a FIDO2 key's model.", PiiClass.NONE),
    _column("model", sa.Text(), "Model of a FIDO2 key.", PiiClass.NONE),
    _column("attestation_level", sa.String(32), "attested or notAttested (FIDO2 key).", PiiClass.NONE),
    _column(
        "key_strength", sa.String(32), "normal, weak or unknown (Windows Hello, platform credential).", PiiClass.NONE
    ),
    _column("is_usable", sa.Boolean(), "Whether a temporary access pass can still be used.", PiiClass.NONE),
    _column("lifetime_in_minutes", sa.Integer(), "Lifetime of a temporary access pass.", PiiClass.NONE),
    comment="Each user's registered authentication methods (Microsoft Graph /users/{id}/authentication/methods).",
)

user_authentication_method_loads = sa.Table(
    "user_authentication_method_loads",
    metadata,
    _tenant_id(),
    _column(
        "directory_extract_id",
        sa.String(EXTRACT_ID_LENGTH),
        "The directory extract whose users were asked (extracts.extract_id).",
        PiiClass.NONE,
        nullable=False,
    ),
    _column("users_asked", sa.Integer(), "Users whose methods were requested.", PiiClass.NONE, nullable=False),
    _column(
        "users_not_found",
        sa.Integer(),
        "Users deleted between the directory extract and their request (Graph answered 404).",
        PiiClass.NONE,
        nullable=False,
    ),
    _column("methods", sa.Integer(), "Method rows loaded.", PiiClass.NONE, nullable=False),
    _column(
        "quarantined", sa.Integer(), "Raw records rejected to the quarantine table.", PiiClass.NONE, nullable=False
    ),
    _column("raw_path", sa.Text(), "The raw file the methods were loaded from.", PiiClass.NONE, nullable=False),
    _column("raw_sha256", sa.String(64), "SHA-256 of that raw file.", PiiClass.NONE, nullable=False),
    _column("extracted_at", UtcDateTime(), "When the raw file was extracted from Graph (UTC).", PiiClass.NONE),
    _column("loaded_at", UtcDateTime(), "When the methods were loaded (UTC).", PiiClass.NONE, nullable=False),
    comment="Provenance of the tenant's users' authentication methods: the raw file, the directory extract, counts.",
)
