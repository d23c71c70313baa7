from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from m365_pipeline.settings import (
    SETTINGS_DOC,
    FaultRates,
    Secret,
    Settings,
    SettingsError,
    load_certificate_credential,
    load_settings,
)
from m365_pipeline_tests.certificates import self_signed, write_pem, write_pfx

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TENANT = "11111111-2222-3333-4444-555555555555"
OTHER_TENANT = "66666666-7777-8888-9999-000000000000"
REAL_TENANT = {"M365_TENANT_ID": TENANT, "M365_CLIENT_ID": "c", "M365_CLIENT_SECRET": "x"}
PASSPHRASE = "pfx-passphrase-never-shown"

Load = Callable[[dict[str, str]], Settings]


@pytest.fixture
def load(tmp_path: Path) -> Load:
    """``load_settings`` with the data folder under tmp_path unless the case sets one."""
    return lambda environ: load_settings({"M365_DATA_DIR": str(tmp_path / "data"), **environ})


def test_nothing_set_is_the_embedded_default(tmp_path: Path) -> None:
    settings = load_settings({"M365_DATA_DIR": str(tmp_path)})
    assert settings.uses_emulator
    assert settings.emulator.url is None
    assert settings.emulator.seeds == (365,)
    assert settings.graph_base_url == "https://graph.microsoft.com/v1.0"
    assert settings.database_url == f"sqlite:///{tmp_path / 'warehouse.db'}"
    assert settings.redis_url is None
    assert settings.raw_store == str(tmp_path / "raw")
    assert settings.snapshot_store == str(tmp_path / "snapshots")
    assert settings.cold_store == str(tmp_path / "cold")
    assert settings.logs_dir == tmp_path / "logs"
    assert settings.reports_dir == tmp_path / "reports"
    assert settings.page_size == 999
    assert str(settings.report_timezone) == "Asia/Tokyo"


def test_the_data_folder_is_created(tmp_path: Path) -> None:
    settings = load_settings({"M365_DATA_DIR": str(tmp_path / "new" / "data")})
    assert settings.data_dir.is_dir()


def test_production_with_a_client_secret(load: Load) -> None:
    settings = load(
        {
            "M365_TENANT_ID": TENANT,
            "M365_CLIENT_ID": "app",
            "M365_CLIENT_SECRET": "s3cr3t-value",
            "M365_GRAPH_BASE_URL": "https://graph.microsoft.us/v1.0/",
            "M365_AUTHORITY_HOST": "https://login.microsoftonline.us/",
            "M365_DATABASE_URL": "postgresql://warehouse:pw@db:5432/m365",
            "M365_REDIS_URL": "redis://cache:6379/0",
            "M365_RAW_STORE": "s3://bucket/raw/",
            "M365_SNAPSHOT_STORE": "s3://bucket/hot",
        }
    )
    assert not settings.uses_emulator
    assert settings.credentials is not None
    assert settings.credentials.tenant_ids == (TENANT,)
    assert settings.credentials.client_secret == Secret("s3cr3t-value")
    assert settings.credentials.authority_host == "https://login.microsoftonline.us"
    assert "s3cr3t-value" not in repr(settings)
    assert settings.graph_base_url == "https://graph.microsoft.us/v1.0"
    assert settings.database_url == "postgresql+psycopg://warehouse:pw@db:5432/m365"
    assert settings.raw_store == "s3://bucket/raw"
    assert settings.snapshot_store == "s3://bucket/hot"


def test_several_tenants_by_id_or_verified_domain(load: Load) -> None:
    settings = load({**REAL_TENANT, "M365_TENANT_ID": f" {TENANT.upper()} ,Contoso.onmicrosoft.com,{OTHER_TENANT}"})
    assert settings.credentials is not None
    assert settings.credentials.tenant_ids == (TENANT, "contoso.onmicrosoft.com", OTHER_TENANT)


def test_the_graph_beta_endpoint(load: Load) -> None:
    settings = load({**REAL_TENANT, "M365_GRAPH_BASE_URL": "https://graph.microsoft.com/beta"})
    assert settings.graph_base_url == "https://graph.microsoft.com/beta"


def test_several_emulated_tenants_and_a_served_emulator(load: Load, tmp_path: Path) -> None:
    settings = load(
        {
            "M365_EMULATOR_SEED": "11, 12,0",
            "M365_EMULATOR_URL": "https://127.0.0.1:8365/",
            "M365_RAW_STORE": str(tmp_path / "elsewhere"),
        }
    )
    assert settings.emulator.seeds == (11, 12, 0)
    assert settings.emulator.url == "https://127.0.0.1:8365"
    assert settings.graph_base_url == "https://127.0.0.1:8365/v1.0"
    assert settings.raw_store == str(tmp_path / "elsewhere")


@pytest.mark.parametrize("password", [None, PASSPHRASE])
def test_a_pem_certificate_instead_of_a_secret(load: Load, tmp_path: Path, password: str | None) -> None:
    key, certificate = self_signed()
    pem = write_pem(tmp_path / "app.pem", key, certificate, password)
    environ = {"M365_TENANT_ID": TENANT, "M365_CLIENT_ID": "c", "M365_CLIENT_CERTIFICATE_PATH": str(pem)}
    settings = load(environ | ({"M365_CLIENT_CERTIFICATE_PASSWORD": password} if password else {}))
    assert settings.credentials is not None
    assert settings.credentials.certificate_path == pem
    assert settings.credentials.client_secret is None
    assert PASSPHRASE not in repr(settings)

    credential = load_certificate_credential(settings.credentials)

    assert credential["thumbprint"] == certificate.fingerprint(hashes.SHA1()).hex().upper()
    assert credential["private_key"] in pem.read_text()
    assert credential["public_certificate"] in pem.read_text()
    assert credential.get("passphrase") == password


def test_a_pfx_certificate_is_handed_to_msal_by_path(load: Load, tmp_path: Path) -> None:
    key, certificate = self_signed()
    pfx = write_pfx(tmp_path / "app.pfx", key, certificate, PASSPHRASE)
    settings = load(
        {
            "M365_TENANT_ID": TENANT,
            "M365_CLIENT_ID": "c",
            "M365_CLIENT_CERTIFICATE_PATH": str(pfx),
            "M365_CLIENT_CERTIFICATE_PASSWORD": PASSPHRASE,
        }
    )
    assert settings.credentials is not None
    assert load_certificate_credential(settings.credentials) == {
        "private_key_pfx_path": str(pfx),
        "passphrase": PASSPHRASE,
    }


def _tenant_with(**environ: str) -> dict[str, str]:
    return {**REAL_TENANT, **{f"M365_{name}": value for name, value in environ.items()}}


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"M365_TENANT_ID": TENANT}, "M365_CLIENT_ID"),
        ({"M365_CLIENT_SECRET": "x", "M365_CLIENT_ID": "c"}, "M365_TENANT_ID"),
        ({"M365_TENANT_ID": TENANT, "M365_CLIENT_ID": "c"}, "M365_CLIENT_SECRET"),
        (_tenant_with(CLIENT_CERTIFICATE_PATH="/x"), "M365_CLIENT_CERTIFICATE_PATH"),
        (
            {"M365_TENANT_ID": TENANT, "M365_CLIENT_ID": "c", "M365_CLIENT_CERTIFICATE_PATH": "/nope.pem"},
            "/nope.pem",
        ),
        ({"M365_PAGE_SIZE": "1000"}, "M365_PAGE_SIZE"),
        ({"M365_PAGE_SIZE": "lots"}, "M365_PAGE_SIZE"),
        ({"M365_EMULATOR_USERS": "0"}, "M365_EMULATOR_USERS"),
        ({"M365_HTTP_TIMEOUT": "0.1"}, "M365_HTTP_TIMEOUT"),
        ({"M365_DATABASE_URL": "mysql://root@db/x"}, "M365_DATABASE_URL"),
        ({"M365_REDIS_URL": "http://cache"}, "M365_REDIS_URL"),
        ({"M365_REDIS_URL": "redis:cache"}, "M365_REDIS_URL"),
        ({"M365_GRAPH_BASE_URL": "graph.microsoft.com"}, "M365_GRAPH_BASE_URL"),
        ({"M365_SNAPSHOT_STORE": "gs://bucket"}, "M365_SNAPSHOT_STORE"),
        ({"M365_COLD_STORE": "s3://"}, "M365_COLD_STORE"),
        ({"M365_REPORT_TIMEZONE": "Mars/Olympus"}, "M365_REPORT_TIMEZONE"),
        # tenant-only settings without a tenant would be ignored
        ({"M365_GRAPH_BASE_URL": "https://graph.microsoft.us/v1.0"}, "M365_GRAPH_BASE_URL"),
        ({"M365_AUTHORITY_HOST": "https://login.microsoftonline.us"}, "M365_AUTHORITY_HOST"),
        ({"M365_CLIENT_CERTIFICATE_PASSWORD": "pw"}, "M365_CLIENT_CERTIFICATE_PASSWORD"),
        (_tenant_with(CLIENT_CERTIFICATE_PASSWORD="pw"), "M365_CLIENT_CERTIFICATE_PASSWORD"),
        ({"M365_EMULATOR_FAULTS": "429=2"}, "M365_EMULATOR_FAULTS"),
        ({"M365_EMULATOR_FAULTS": "teapot=0.1"}, "M365_EMULATOR_FAULTS"),
        ({"M365_EMULATOR_FAULTS": "429=0.6,503=0.6"}, "M365_EMULATOR_FAULTS"),
        # emulator settings with a tenant would be ignored
        (_tenant_with(EMULATOR_URL="http://127.0.0.1:1"), "M365_EMULATOR_URL"),
        (_tenant_with(EMULATOR_SEED="7"), "M365_EMULATOR_SEED"),
        (_tenant_with(EMULATOR_USERS="100"), "M365_EMULATOR_USERS"),
        (_tenant_with(EMULATOR_FAULTS="429=0.1"), "M365_EMULATOR_FAULTS"),
        # numbers that are not finite
        ({"M365_HTTP_TIMEOUT": "nan"}, "M365_HTTP_TIMEOUT"),
        ({"M365_HTTP_TIMEOUT": "inf"}, "M365_HTTP_TIMEOUT"),
        ({"M365_HTTP_TIMEOUT": "-Infinity"}, "M365_HTTP_TIMEOUT"),
        ({"M365_HTTP_TIMEOUT": "1e999"}, "M365_HTTP_TIMEOUT"),
        ({"M365_EMULATOR_FAULTS": "retry_after=inf"}, "M365_EMULATOR_FAULTS"),
        ({"M365_EMULATOR_FAULTS": "retry_after=nan"}, "M365_EMULATOR_FAULTS"),
        ({"M365_EMULATOR_FAULTS": "503=nan"}, "M365_EMULATOR_FAULTS"),
        # sign-in and Graph over https only; Graph's URL ends in its version
        (_tenant_with(AUTHORITY_HOST="http://login.microsoftonline.com"), "M365_AUTHORITY_HOST"),
        (_tenant_with(AUTHORITY_HOST=f"https://login.microsoftonline.com/{TENANT}"), "M365_AUTHORITY_HOST"),
        (_tenant_with(AUTHORITY_HOST="https://login.microsoftonline.com?x=1"), "M365_AUTHORITY_HOST"),
        (_tenant_with(GRAPH_BASE_URL="http://graph.microsoft.com/v1.0"), "M365_GRAPH_BASE_URL"),
        (_tenant_with(GRAPH_BASE_URL="https://graph.microsoft.com"), "M365_GRAPH_BASE_URL"),
        (_tenant_with(GRAPH_BASE_URL="https://graph.microsoft.com/v2.0"), "M365_GRAPH_BASE_URL"),
        (_tenant_with(GRAPH_BASE_URL="https://graph.microsoft.com/v1.0?x=1"), "M365_GRAPH_BASE_URL"),
        (_tenant_with(GRAPH_BASE_URL="https://graph.microsoft.com:99999/v1.0"), "M365_GRAPH_BASE_URL"),
        # the emulator's URL is its server root
        ({"M365_EMULATOR_URL": "http://127.0.0.1:8365/v1.0"}, "M365_EMULATOR_URL"),
        ({"M365_EMULATOR_URL": "http://127.0.0.1:8365/v1.0"}, "server root"),
        ({"M365_EMULATOR_URL": "http://127.0.0.1:8365?x=1"}, "M365_EMULATOR_URL"),
        ({"M365_EMULATOR_URL": "ftp://127.0.0.1:8365"}, "M365_EMULATOR_URL"),
        ({"M365_EMULATOR_URL": "http:127.0.0.1"}, "M365_EMULATOR_URL"),
        ({"M365_EMULATOR_URL": "http://[::1"}, "M365_EMULATOR_URL"),
        # stores: a folder or s3://bucket/prefix, nothing that merely looks like either
        *(
            ({f"M365_{store}": value}, f"M365_{store}")
            for store in ("RAW_STORE", "SNAPSHOT_STORE", "COLD_STORE")
            for value in ("s3:/bucket", "s3:bucket", "S3:/bucket", "gs://bucket", "file:///tmp/x", "s3://", "s3://B_")
        ),
        # tenants: GUIDs or verified domains, no blanks, no repeats
        (_tenant_with(TENANT_ID="t"), "M365_TENANT_ID"),
        (_tenant_with(TENANT_ID="common"), "M365_TENANT_ID"),
        (_tenant_with(TENANT_ID=f"{TENANT}x"), "M365_TENANT_ID"),
        (_tenant_with(TENANT_ID=f"{TENANT},,{OTHER_TENANT}"), "M365_TENANT_ID"),
        (_tenant_with(TENANT_ID=f"{TENANT},"), "M365_TENANT_ID"),
        (_tenant_with(TENANT_ID=" , "), "M365_TENANT_ID"),
        (_tenant_with(TENANT_ID=f"{TENANT},{TENANT.upper()}"), "M365_TENANT_ID"),
        (_tenant_with(TENANT_ID="contoso.com,CONTOSO.COM"), "M365_TENANT_ID"),
        # seeds: whole numbers, no blanks, no repeats
        ({"M365_EMULATOR_SEED": "1,,2"}, "M365_EMULATOR_SEED"),
        ({"M365_EMULATOR_SEED": "1,"}, "M365_EMULATOR_SEED"),
        ({"M365_EMULATOR_SEED": "1,1"}, "M365_EMULATOR_SEED"),
        ({"M365_EMULATOR_SEED": "7,07"}, "M365_EMULATOR_SEED"),
        ({"M365_EMULATOR_SEED": "-1"}, "M365_EMULATOR_SEED"),
        ({"M365_EMULATOR_SEED": "seven"}, "M365_EMULATOR_SEED"),
    ],
)
def test_a_wrong_or_half_given_setting_names_itself(load: Load, environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(named)):
        load(environ)


def test_a_wrong_setting_creates_no_data_folder(tmp_path: Path) -> None:
    with pytest.raises(SettingsError):
        load_settings({"M365_DATA_DIR": str(tmp_path / "data"), "M365_PAGE_SIZE": "0"})
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("where", ["a file in its place", "a folder under a file"])
def test_a_data_folder_that_cannot_be_created_names_m365_data_dir(tmp_path: Path, where: str) -> None:
    (tmp_path / "file").write_text("not a folder")
    data_dir = tmp_path / "file" if where == "a file in its place" else tmp_path / "file" / "data"
    with pytest.raises(SettingsError, match=f"M365_DATA_DIR: .*{re.escape(str(data_dir))}"):
        load_settings({"M365_DATA_DIR": str(data_dir)})


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_data_folder_without_write_permission_names_m365_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o500)
    try:
        with pytest.raises(SettingsError, match="M365_DATA_DIR"):
            load_settings({"M365_DATA_DIR": str(data_dir)})
    finally:
        data_dir.chmod(0o700)


def test_certificate_files_that_cannot_sign_are_refused_at_startup(load: Load, tmp_path: Path) -> None:
    key, certificate = self_signed()
    other_key, _ = self_signed("other")
    encrypted = write_pem(tmp_path / "encrypted.pem", key, certificate, PASSPHRASE)
    plain = write_pem(tmp_path / "plain.pem", key, certificate)
    mismatched = write_pem(tmp_path / "mismatched.pem", other_key, certificate)
    no_key = tmp_path / "no-key.pem"
    no_key.write_text(mismatched.read_text().split("-----END PRIVATE KEY-----")[1])
    pfx = write_pfx(tmp_path / "app.pfx", key, certificate, PASSPHRASE)
    pfx_as_pem = write_pfx(tmp_path / "app-pfx.pem", key, certificate, PASSPHRASE)
    not_pfx = tmp_path / "not.p12"
    not_pfx.write_text("hello")
    cases = [
        (encrypted, "wrong-passphrase", "M365_CLIENT_CERTIFICATE_PASSWORD"),
        (encrypted, None, "M365_CLIENT_CERTIFICATE_PASSWORD"),
        (plain, "wrong-passphrase", "M365_CLIENT_CERTIFICATE_PASSWORD"),
        (mismatched, None, "no certificate matching its private key"),
        (no_key, None, "no PEM private key"),
        (tmp_path / "missing.pem", None, "cannot read"),
        (tmp_path, None, "cannot read"),
        (pfx, "wrong-passphrase", "M365_CLIENT_CERTIFICATE_PASSWORD"),
        (pfx, None, "M365_CLIENT_CERTIFICATE_PASSWORD"),
        (pfx_as_pem, PASSPHRASE, ".pfx"),
        (not_pfx, None, "not a .pfx file"),
    ]
    for path, password, expected in cases:
        environ = {"M365_TENANT_ID": TENANT, "M365_CLIENT_ID": "c", "M365_CLIENT_CERTIFICATE_PATH": str(path)}
        with pytest.raises(SettingsError) as raised:
            load(environ | ({"M365_CLIENT_CERTIFICATE_PASSWORD": password} if password else {}))
        message = str(raised.value)
        assert "M365_CLIENT_CERTIFICATE_PATH" in message and str(path) in message and expected in message, message
        assert PASSPHRASE not in message and "wrong-passphrase" not in message


@pytest.mark.parametrize(
    "environ",
    [
        {"M365_TENANT_ID": "t", "M365_CLIENT_SECRET": "hunter2"},
        {"M365_DATABASE_URL": "mysql://root:hunter2@db/x"},
        {"M365_DATABASE_URL": "hunter2://hunter2:hunter2@db/x"},  # the password text also elsewhere in the URL
        {"M365_REDIS_URL": "http://default:hunter2@cache:6379"},
        {"M365_SNAPSHOT_STORE": "https://key:hunter2@store/bucket"},
        {"M365_RAW_STORE": "s3://key:hunter2@bucket/raw"},
        {"M365_RAW_STORE": "s3:key:hunter2@bucket"},
        {"M365_EMULATOR_URL": "http://u:hunter2@127.0.0.1:1/v1.0"},
        {"M365_EMULATOR_URL": "http://u:hunter2@[::1"},
        _tenant_with(CLIENT_SECRET="hunter2", EMULATOR_SEED="1"),
        _tenant_with(CLIENT_SECRET="hunter2", TENANT_ID="not a tenant"),
        _tenant_with(CLIENT_SECRET="hunter2", CLIENT_CERTIFICATE_PATH="/x"),
        _tenant_with(AUTHORITY_HOST="http://u:hunter2@login.microsoftonline.com"),
        _tenant_with(GRAPH_BASE_URL="https://u:hunter2@graph.microsoft.com"),
    ],
)
def test_errors_never_show_a_secret_or_a_password(load: Load, environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as raised:
        load(environ)
    assert "hunter2@" not in str(raised.value) and ":hunter2" not in str(raised.value)
    if environ.get("M365_CLIENT_SECRET") == "hunter2":
        assert "hunter2" not in str(raised.value)


def test_the_settings_repr_shows_no_password(load: Load) -> None:
    settings = load(
        {"M365_DATABASE_URL": "postgresql://postgres:postgres@db/m365", "M365_REDIS_URL": "redis://u:postgres@c:6379"}
    )
    assert ":postgres@" not in repr(settings)


def test_fault_rates_parse() -> None:
    rates = FaultRates.parse("429=0.05, retry_after=1.5,429_bare=0.01,503=0.02,504=0.01,drop=0.01,seed=7")
    assert rates == FaultRates(
        throttle=0.05,
        retry_after=1.5,
        throttle_bare=0.01,
        unavailable=0.02,
        gateway_timeout=0.01,
        drop=0.01,
        seed=7,
    )
    assert FaultRates.parse("") == FaultRates()


def test_fault_rates_parse_a_retry_after_range() -> None:
    rates = FaultRates.parse("429=0.08,retry_after=0-2,429_bare=0.02")
    assert (rates.throttle, rates.retry_after, rates.retry_after_max, rates.throttle_bare) == (0.08, 0.0, 2.0, 0.02)


@pytest.mark.parametrize("text", ["retry_after=2-1", "retry_after=0-x", "retry_after=0-inf"])
def test_a_bad_retry_after_range_names_the_setting(text: str) -> None:
    with pytest.raises(SettingsError, match="M365_EMULATOR_FAULTS"):
        FaultRates.parse(text)


def test_the_readme_table_is_settings_doc() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `M365_([A-Z_0-9]+)` \| (.*?) \| (.*) \|$", readme, flags=re.MULTILINE)
    assert rows == [(name, default, meaning) for name, (default, meaning) in SETTINGS_DOC.items()]
