"""The full directory extract's group memberships (direct and transitive) and owners, published to the
warehouse, equal the emulator's truth exactly, groups of more than one page (over 999 members) included, and
groups that contain groups (asked for their transitive members) as well as those that do not (derived)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from m365_pipeline.directory.extract import extract_directory
from m365_pipeline.directory.publish import publish_directory
from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.raw_store import RawStore
from m365_pipeline.warehouse import schema
from m365_pipeline_tests.graph.emulated import emulator_client
from m365_pipeline_tests.graph.fake_clock import FakeClock


def pairs(engine: sa.Engine, tenant_id: str, table: sa.Table, related: str) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        query = sa.select(table.c.group_id, table.c[related]).where(table.c.tenant_id == tenant_id)
        return sorted(connection.execute(query).tuples())


def test_memberships_and_owners_equal_the_emulators_truth(engine: sa.Engine, tmp_path: Path) -> None:
    emulator = GraphEmulator(generate_tenant(7, 4000))  # its largest group has 1,211 members: two pages
    state = emulator.state()
    with emulator_client(emulator, FakeClock()) as client:
        extract = extract_directory(client, RawStore(str(tmp_path / "raw")), state.tenant_id)
    publish_directory(engine, RawStore(str(tmp_path / "raw")), extract.manifest)

    with state.lock:
        live = set(state.users.live) | set(state.groups.live)
        groups = list(state.groups.live)
        direct = sorted((g, m) for g in groups for m in state.members.get(g, {}) if m in live)
        owners = sorted((g, o) for g in groups for o in state.owners.get(g, []) if o in live)
        transitive = sorted((g, m) for g in groups for m in set(state.transitive_members(g)) if m in live)
        nesting = {g for g in groups if any(m in state.groups.live for m in state.members.get(g, {}))}
    assert max(sum(1 for g, _ in direct if g == group) for group in groups) > 999
    assert 0 < len(nesting) < len(groups)  # transitive members both asked for (nesting) and derived (the rest)
    assert pairs(engine, state.tenant_id, schema.group_members, "member_id") == direct
    assert pairs(engine, state.tenant_id, schema.group_transitive_members, "member_id") == transitive
    assert pairs(engine, state.tenant_id, schema.group_owners, "owner_id") == owners
    assert len(transitive) > len(direct) and owners
