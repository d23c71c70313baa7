"""`m365 emulator change`: script tenant changes over time in a served emulator (``m365 emulator serve``) through
its admin endpoints (``/_emulator/...``, see ``emulator/admin.py``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import httpx


@click.command(name="change")
@click.option("--url", default="http://127.0.0.1:8365", show_default=True, help="Root URL of the served emulator.")
@click.option("--tenant", help="Tenant id to change [default: the emulator's first tenant].")
@click.option("--random", "random_count", type=click.IntRange(1), help="Make N random changes of every kind.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random changes.")
@click.option(
    "--every",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="Seconds the emulator's clock moves forward before each random change after the first.",
)
@click.option(
    "--file",
    "changes_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON list of changes, e.g. [{"action": "softDelete", "id": "..."}] (actions: see emulator/admin.py).',
)
@click.option("--advance", type=click.FloatRange(0), help="First move the emulator's clock this many seconds forward.")
@click.option(
    "--expire-delta-tokens",
    "expire",
    type=click.Choice(["400", "410"]),
    help="Then expire every delta token issued so far: answered 400 syncStateNotFound or 410 Gone.",
)
def change(
    url: str,
    tenant: str | None,
    random_count: int | None,
    seed: int,
    every: float,
    changes_file: Path | None,
    advance: float | None,
    expire: str | None,
) -> None:
    """Change a served emulator's tenant: random changes (--random N --seed S), the changes of a JSON file
    (--file), a clock jump (--advance) and/or forced delta-token expiry (--expire-delta-tokens). Prints one line
    per applied change (sequence, emulator time, action, object)."""
    if random_count is None and changes_file is None and advance is None and expire is None:
        raise click.UsageError("nothing to do: give --random, --file, --advance and/or --expire-delta-tokens")
    if random_count is not None and changes_file is not None:
        raise click.UsageError("--random and --file do not go together")
    requests: list[tuple[str, dict[str, Any]]] = []
    tenant_field = {"tenant": tenant} if tenant else {}
    if advance is not None:
        requests.append(("clock", {"advanceSeconds": advance}))
    if random_count is not None:
        requests.append(("change", tenant_field | {"random": random_count, "seed": seed, "everySeconds": every}))
    if changes_file is not None:
        try:
            changes = json.loads(changes_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise click.UsageError(f"{changes_file}: not a JSON list of changes ({error})") from None
        if not isinstance(changes, list):
            raise click.UsageError(f"{changes_file}: not a JSON list of changes")
        requests.append(("change", tenant_field | {"changes": changes}))
    if expire is not None:
        requests.append(("expire-delta-tokens", tenant_field | {"status": int(expire)}))
    with httpx.Client(timeout=120) as http:
        for endpoint, body in requests:
            answer = _post(http, f"{url.rstrip('/')}/_emulator/{endpoint}", body)
            for applied in answer.get("applied", []):
                related = f" {applied['relatedId']}" if "relatedId" in applied else ""
                click.echo(f"{applied['seq']} {applied['at']} {applied['action']} {applied['objectId']}{related}")
            if "now" in answer:
                click.echo(f"m365 emulator: emulator time {answer['now']}", err=True)
            if endpoint == "expire-delta-tokens":
                click.echo(f"m365 emulator: delta tokens expired ({expire} form)", err=True)


def _post(http: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        response = http.post(url, json=body)
    except httpx.HTTPError as error:
        click.echo(f"m365 emulator change: {url} unreachable: {error}", err=True)
        sys.exit(1)
    try:
        answer: dict[str, Any] = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 200:
        message = answer.get("error", {}).get("message") or response.text[:200]
        click.echo(f"m365 emulator change: refused ({response.status_code}): {message}", err=True)
        sys.exit(1)
    return answer
