from __future__ import annotations

import re
from pathlib import Path

import pytest

from m365_pipeline.settings import SETTINGS_DOC, FaultRates, Secret, SettingsError, load_settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_nothing_set_is_the_embedded_default(tmp_path: Path) -> None:
    settings = load_settings({"M365_DATA_DIR": str(tmp_path)})
    assert settings.uses_emulator
    assert settings.emulator.url is None
    assert settings.database_url == f"sqlite:///{tmp_path / 'warehouse.db'}"
    assert settings.redis_url is None
    assert settings.snapshot_store == str(tmp_path / "snapshots")
    assert settings.cold_store == str(tmp_path / "cold")
    assert settings.raw_dir == tmp_path / "raw"
    assert settings.page_size == 999
    assert str(settings.report_timezone) == "Asia/Tokyo"


def test_production_with_a_client_secret() -> None:
    settings = load_settings(
        {
            "M365_TENANT_ID": "11111111-2222-3333-4444-555555555555",
            "M365_CLIENT_ID": "app",
            "M365_CLIENT_SECRET": "s3cr3t-value",
            "M365_GRAPH_BASE_URL": "https://graph.microsoft.us/v1.0/",
            "M365_DATABASE_URL": "postgresql://warehouse:pw@db:5432/m365",
            "M365_REDIS_URL": "redis://cache:6379/0",
            "M365_SNAPSHOT_STORE": "s3://bucket/hot",
        }
    )
    assert not settings.uses_emulator
    assert settings.credentials is not None
    assert settings.credentials.client_secret == Secret("s3cr3t-value")
    assert "s3cr3t-value" not in repr(settings)
    assert settings.graph_base_url == "https://graph.microsoft.us/v1.0"
    assert settings.database_url == "postgresql+psycopg://warehouse:pw@db:5432/m365"
    assert settings.snapshot_store == "s3://bucket/hot"


def test_a_certificate_instead_of_a_secret(tmp_path: Path) -> None:
    certificate = tmp_path / "app.pem"
    certificate.write_text("-----BEGIN PRIVATE KEY-----\n")
    settings = load_settings(
        {"M365_TENANT_ID": "t", "M365_CLIENT_ID": "c", "M365_CLIENT_CERTIFICATE_PATH": str(certificate)}
    )
    assert settings.credentials is not None
    assert settings.credentials.certificate_path == certificate
    assert settings.credentials.client_secret is None


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"M365_TENANT_ID": "t"}, "M365_CLIENT_ID"),
        ({"M365_CLIENT_SECRET": "x", "M365_CLIENT_ID": "c"}, "M365_TENANT_ID"),
        ({"M365_TENANT_ID": "t", "M365_CLIENT_ID": "c"}, "M365_CLIENT_SECRET"),
        (
            {
                "M365_TENANT_ID": "t",
                "M365_CLIENT_ID": "c",
                "M365_CLIENT_SECRET": "x",
                "M365_CLIENT_CERTIFICATE_PATH": "/x",
            },
            "M365_CLIENT_CERTIFICATE_PATH",
        ),
        (
            {"M365_TENANT_ID": "t", "M365_CLIENT_ID": "c", "M365_CLIENT_CERTIFICATE_PATH": "/nope.pem"},
            "/nope.pem",
        ),
        ({"M365_PAGE_SIZE": "1000"}, "M365_PAGE_SIZE"),
        ({"M365_PAGE_SIZE": "lots"}, "M365_PAGE_SIZE"),
        ({"M365_EMULATOR_USERS": "0"}, "M365_EMULATOR_USERS"),
        ({"M365_HTTP_TIMEOUT": "0.1"}, "M365_HTTP_TIMEOUT"),
        ({"M365_DATABASE_URL": "mysql://root@db/x"}, "M365_DATABASE_URL"),
        ({"M365_REDIS_URL": "http://cache"}, "M365_REDIS_URL"),
        ({"M365_GRAPH_BASE_URL": "graph.microsoft.com"}, "M365_GRAPH_BASE_URL"),
        ({"M365_SNAPSHOT_STORE": "gs://bucket"}, "M365_SNAPSHOT_STORE"),
        ({"M365_COLD_STORE": "s3://"}, "M365_COLD_STORE"),
        ({"M365_REPORT_TIMEZONE": "Mars/Olympus"}, "M365_REPORT_TIMEZONE"),
        ({"M365_GRAPH_BASE_URL": "https://graph.microsoft.us/v1.0"}, "M365_GRAPH_BASE_URL"),
        ({"M365_AUTHORITY_HOST": "https://login.microsoftonline.us"}, "M365_AUTHORITY_HOST"),
        ({"M365_CLIENT_CERTIFICATE_PASSWORD": "pw"}, "M365_CLIENT_CERTIFICATE_PASSWORD"),
        (
            {
                "M365_TENANT_ID": "t",
                "M365_CLIENT_ID": "c",
                "M365_CLIENT_SECRET": "x",
                "M365_CLIENT_CERTIFICATE_PASSWORD": "pw",
            },
            "M365_CLIENT_CERTIFICATE_PASSWORD",
        ),
        ({"M365_EMULATOR_FAULTS": "429=2"}, "M365_EMULATOR_FAULTS"),
        ({"M365_EMULATOR_FAULTS": "teapot=0.1"}, "M365_EMULATOR_FAULTS"),
        ({"M365_EMULATOR_FAULTS": "429=0.6,503=0.6"}, "M365_EMULATOR_FAULTS"),
        (
            {
                "M365_EMULATOR_URL": "http://127.0.0.1:1",
                "M365_TENANT_ID": "t",
                "M365_CLIENT_ID": "c",
                "M365_CLIENT_SECRET": "x",
            },
            "M365_EMULATOR_URL",
        ),
    ],
)
def test_a_wrong_or_half_given_setting_names_itself(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(named)):
        load_settings(environ)


@pytest.mark.parametrize(
    "environ",
    [
        {"M365_TENANT_ID": "t", "M365_CLIENT_SECRET": "hunter2"},
        {"M365_DATABASE_URL": "mysql://root:hunter2@db/x"},
        {"M365_DATABASE_URL": "hunter2://hunter2:hunter2@db/x"},  # the password text also elsewhere in the URL
        {"M365_REDIS_URL": "http://default:hunter2@cache:6379"},
        {"M365_SNAPSHOT_STORE": "https://key:hunter2@store/bucket"},
    ],
)
def test_errors_never_show_a_secret_or_a_password(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ)
    assert "hunter2@" not in str(raised.value) and ":hunter2" not in str(raised.value)


def test_the_settings_repr_shows_no_password() -> None:
    settings = load_settings(
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


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `M365_([A-Z_0-9]+)` \|", readme, flags=re.MULTILINE))
    assert documented == set(SETTINGS_DOC)
