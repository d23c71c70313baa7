"""The legacy package is plain domain code: no Dagster, no other domain's internals."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "m365_pipeline" / "legacy"
FORBIDDEN = (
    "dagster",
    "m365_pipeline.defs",
    "m365_pipeline.graph",
    "m365_pipeline.emulator",
    "m365_pipeline.snapshots",
)


def test_legacy_imports_no_dagster_and_no_other_domain() -> None:
    offending = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module
                else []
            )
            offending += [f"{path.name} imports {name}" for name in names if name.startswith(FORBIDDEN)]
    assert offending == []
