"""The snapshot settings: the key or the passphrase (secrets, never shown), the tags' environment, retention."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from m365_pipeline.settings import COLD_STORAGE_CLASSES, Secret, SettingsError, SnapshotSettings, load_settings
from m365_pipeline.snapshots.cold import ARCHIVE_STORAGE_CLASSES

KEY = base64.b64encode(bytes(range(32))).decode()


def _load(tmp_path: Path, **environ: str) -> SnapshotSettings:
    return load_settings({"M365_DATA_DIR": str(tmp_path), **environ}).snapshots


def test_defaults(tmp_path: Path) -> None:
    assert _load(tmp_path) == SnapshotSettings(None, None, "dev", 7, 4, 30, "DEEP_ARCHIVE", None)


def test_every_snapshot_setting_is_read(tmp_path: Path) -> None:
    snapshots = _load(
        tmp_path,
        M365_SNAPSHOT_KEY=KEY,
        M365_SNAPSHOT_ENV="prod",
        M365_SNAPSHOT_KEEP_DAILY="3",
        M365_SNAPSHOT_KEEP_WEEKLY="0",
        M365_COLD_AFTER_DAYS="60",
        M365_COLD_STORAGE_CLASS="GLACIER",
        M365_CODE_COMMIT="ab" * 20,
    )
    assert snapshots == SnapshotSettings(Secret(KEY), None, "prod", 3, 0, 60, "GLACIER", "ab" * 20)
    assert _load(tmp_path, M365_SNAPSHOT_PASSPHRASE="correct horse").passphrase == Secret("correct horse")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"M365_SNAPSHOT_KEY": KEY, "M365_SNAPSHOT_PASSPHRASE": "pw"}, "set only one of M365_SNAPSHOT_KEY"),
        ({"M365_SNAPSHOT_KEY": "not base64!"}, "M365_SNAPSHOT_KEY is not valid base64"),
        ({"M365_SNAPSHOT_KEY": base64.b64encode(b"short").decode()}, "decodes to 5 bytes, expected 32"),
        ({"M365_SNAPSHOT_ENV": "production"}, "M365_SNAPSHOT_ENV: 'production' is not one of prod"),
        ({"M365_SNAPSHOT_KEEP_DAILY": "-1"}, "M365_SNAPSHOT_KEEP_DAILY: -1 is out of range"),
        ({"M365_COLD_AFTER_DAYS": "0"}, "M365_COLD_AFTER_DAYS: 0 is out of range"),
        ({"M365_CODE_COMMIT": "v1.2.3"}, "M365_CODE_COMMIT: 'v1.2.3' is not a git commit"),
        ({"M365_COLD_STORAGE_CLASS": "STANDARD"}, "M365_COLD_STORAGE_CLASS: 'STANDARD' is not one of DEEP_ARCHIVE"),
    ],
)
def test_a_wrong_snapshot_setting_is_named(tmp_path: Path, environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as raised:
        _load(tmp_path, **environ)
    for secret in (environ.get("M365_SNAPSHOT_KEY"), environ.get("M365_SNAPSHOT_PASSPHRASE")):
        assert not secret or secret not in str(raised.value)


def test_the_secrets_never_show(tmp_path: Path) -> None:
    settings = load_settings({"M365_DATA_DIR": str(tmp_path), "M365_SNAPSHOT_PASSPHRASE": "hunter2-snapshots"})
    assert "hunter2-snapshots" not in repr(settings)
    assert "hunter2-snapshots" not in str(settings.snapshots)


def test_the_storage_classes_are_the_cold_tiers() -> None:
    assert set(COLD_STORAGE_CLASSES) == set(ARCHIVE_STORAGE_CLASSES)
