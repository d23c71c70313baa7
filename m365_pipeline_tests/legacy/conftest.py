"""Paths to the shared legacy material (../shared beside the project root); tests that need it skip without it."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared"
SAMPLES = SHARED / "legacy_csv_samples"
CATALOGUE = SHARED / "reference" / "legacy_csv_formats.md"


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"the legacy samples folder {SAMPLES} is missing")
    return SAMPLES


@pytest.fixture
def catalogue() -> Path:
    if not CATALOGUE.is_file():
        pytest.skip(f"the legacy catalogue {CATALOGUE} is missing")
    return CATALOGUE
