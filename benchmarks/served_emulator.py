"""`m365 emulator serve` in a subprocess, for the benchmarks: the CLI is the one way to serve an emulator that
every version of the project keeps, so a benchmark can serve the baseline's emulator and ours alike.

The emulator runs in its own process so that the client measured does not share its interpreter lock (nor its
memory, for a peak RSS that is the pipeline's alone).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServedEmulator:
    url: str  # without /v1.0, as M365_EMULATOR_URL takes it
    process: subprocess.Popen[bytes]

    def peak_rss_kib(self) -> int | None:
        """The emulator's own peak resident set (VmHWM) so far; None once it has exited."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextmanager
def served_emulator(
    m365: Path,
    users: int,
    env: Mapping[str, str],
    log: Path,
    timeout: float = 300.0,
    options: Sequence[str] = (),
) -> Iterator[ServedEmulator]:
    """Serve ``users`` users of the seed in ``env`` (M365_EMULATOR_SEED) on a free loopback port until the block
    ends; its output goes to ``log``. ``options`` are more options of ``m365 emulator serve`` (``--limits``)."""
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(m365), "emulator", "serve", "--host", HOST, "--port", str(port), "--users", str(users), *options],
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        served = ServedEmulator(f"http://{HOST}:{port}", process)
        _wait_until_up(served, log, timeout)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(served: ServedEmulator, log: Path, timeout: float) -> None:
    """Any HTTP answer (401 without a token) means the tenant is generated and the socket listens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise SystemExit(f"the emulator exited with {served.process.returncode}: {_tail(log)}")
        try:
            httpx.get(f"{served.url}/v1.0/organization", timeout=2.0)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"the emulator did not come up at {served.url} within {timeout:.0f} s: {_tail(log)}")


def _tail(log: Path, lines: int = 5) -> str:
    return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])


def clean_environment() -> dict[str, str]:
    """This process's environment without any M365_* setting, DAGSTER_HOME or PYTHONPATH: each benchmark case
    sets exactly what it means."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("M365_") and name not in ("DAGSTER_HOME", "PYTHONPATH")
    }
