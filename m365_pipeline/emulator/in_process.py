"""The emulator inside the pipeline's process: where it stands (its Graph and sign-in hosts) and one emulator
per process for a given configuration.

A run's raw steps each build a Graph client; ``shared_emulator`` hands them all the same emulator, so the
synthetic tenants are generated once per process (about 10 s at 100,000 users) instead of once per step. The
shared emulator keeps its state across callers as a real Graph would: issued tokens, fault decisions and the
request log go on from where the previous step left them.
"""

from __future__ import annotations

from functools import cache

from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.identity import EMULATOR_AUTHORITY_HOST, EMULATOR_GRAPH_BASE_URL
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.settings import FaultRates

__all__ = ["EMULATOR_AUTHORITY_HOST", "EMULATOR_GRAPH_BASE_URL", "shared_emulator"]


@cache
def shared_emulator(seeds: tuple[int, ...], users: int, faults: FaultRates) -> GraphEmulator:
    """The emulator serving one tenant of ``users`` users per seed, made on the first call with these
    arguments and returned again by every later one in this process."""
    if not seeds:
        raise ValueError("the emulator needs at least one seed")
    return GraphEmulator([generate_tenant(seed, users) for seed in seeds], faults)
