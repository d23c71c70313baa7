from __future__ import annotations

from pathlib import Path

import pytest

SLICE_USERS = 240
SLICE_SEED = 7


def embedded_environment(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    """The environment of the embedded default on `data_dir`, with a small synthetic tenant."""
    for name in (
        "M365_TENANT_ID",
        "M365_CLIENT_ID",
        "M365_CLIENT_SECRET",
        "M365_DATABASE_URL",
        "M365_EMULATOR_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("M365_DATA_DIR", str(data_dir))
    monkeypatch.setenv("M365_EMULATOR_USERS", str(SLICE_USERS))
    monkeypatch.setenv("M365_EMULATOR_SEED", str(SLICE_SEED))


@pytest.fixture
def embedded_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The embedded default in a fresh data folder, with a small synthetic tenant."""
    data_dir = tmp_path / "data"
    embedded_environment(monkeypatch, data_dir)
    return data_dir
