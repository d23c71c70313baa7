"""Lint, format and type checks are part of the test command: a finding fails the suite."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_quality_gate(command: list[str]) -> None:
    completed = subprocess.run(
        [str(BIN / command[0]), *command[1:]], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def _imports(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


# (package folder, modules it must not import): dependencies point one way, defs -> domains -> settings
FORBIDDEN_IMPORTS = {
    "graph": ("m365_pipeline.emulator", "m365_pipeline.defs", "dagster"),
    "emulator": ("m365_pipeline.graph", "m365_pipeline.defs", "dagster"),
    "entities": ("m365_pipeline.graph", "m365_pipeline.warehouse", "m365_pipeline.defs", "dagster"),
    "warehouse": ("m365_pipeline.graph", "m365_pipeline.emulator", "m365_pipeline.defs", "dagster"),
    "directory": ("m365_pipeline.emulator", "m365_pipeline.defs", "dagster"),
    "reports": ("m365_pipeline.graph", "m365_pipeline.emulator", "m365_pipeline.defs", "dagster"),
    "legacy": ("m365_pipeline.graph", "m365_pipeline.emulator", "m365_pipeline.defs", "dagster"),
    "snapshots": ("m365_pipeline.graph", "m365_pipeline.emulator", "m365_pipeline.defs", "dagster"),
    "activity": ("m365_pipeline.emulator", "m365_pipeline.defs", "dagster"),
    "usage": ("m365_pipeline.emulator", "m365_pipeline.defs", "dagster"),
    "teams": ("m365_pipeline.emulator", "m365_pipeline.defs", "dagster"),
    "drives": ("m365_pipeline.emulator", "m365_pipeline.defs", "dagster"),
    "exchange": ("m365_pipeline.graph", "m365_pipeline.emulator", "m365_pipeline.defs", "dagster"),
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN_IMPORTS))
def test_dependencies_point_one_way(package: str) -> None:
    offending = [
        f"{path.relative_to(PROJECT_ROOT)} imports {module}"
        for path in sorted((PROJECT_ROOT / "m365_pipeline" / package).rglob("*.py"))
        for module in sorted(_imports(path))
        if module.startswith(FORBIDDEN_IMPORTS[package])
    ]
    assert offending == []
