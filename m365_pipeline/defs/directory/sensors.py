"""A sensor that follows each tenant's users and groups delta and requests a refresh run only when something
changed.

The cursor holds, per tenant, the users and groups deltaLinks the sensor reached. On the first tick it asks
Graph for links that start now (``$deltaToken=latest``: no objects, so it costs two small requests); on each
later tick it reads the rounds since those links: any object or removal in either means the tenant changed,
and one run of the refresh job is requested for its partition (keyed by the new links, so a tick evaluated
twice requests it once). A link Graph no longer accepts (expired, reset) is replaced by a new latest link and
one refresh is requested, since changes may have been missed.
"""

import hashlib
import json
from collections.abc import Iterator, Sequence

import dagster as dg

from m365_pipeline.defs.resources import GraphSource
from m365_pipeline.directory.delta import GROUPS, USERS, changes_since, latest_delta_link
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.errors import GraphError

DIRECTORY_CHANGES = "directory_changes"
CHECK_EVERY_SECONDS = 300


def build_directory_change_sensor(
    job: "dg.UnresolvedAssetJobDefinition", tenants: Sequence[str]
) -> dg.SensorDefinition:
    @dg.sensor(
        name=DIRECTORY_CHANGES,
        job=job,
        minimum_interval_seconds=CHECK_EVERY_SECONDS,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Follow each tenant's users and groups delta; request a refresh run only when something changed.",
    )
    def directory_changes(context: dg.SensorEvaluationContext, graph: GraphSource) -> Iterator[dg.RunRequest]:
        cursor: dict[str, dict[str, str]] = json.loads(context.cursor) if context.cursor else {}
        for tenant in tenants:
            links = cursor.get(tenant, {})
            with graph.client(tenant) as client:
                changed, links = _follow(client, links)
            if changed:
                context.log.info(f"tenant {tenant}: the directory changed; requesting a refresh")
                reached = hashlib.sha256(f"{links['users']}|{links['groups']}".encode()).hexdigest()[:32]
                yield dg.RunRequest(run_key=f"{tenant}|{reached}", partition_key=tenant)
            cursor[tenant] = links
        context.update_cursor(json.dumps(cursor, sort_keys=True))

    return directory_changes


def _follow(client: GraphClient, links: dict[str, str]) -> tuple[bool, dict[str, str]]:
    """Whether users or groups changed since ``links``, and the links to start from next time."""
    changed = False
    followed: dict[str, str] = {}
    for resource in (USERS, GROUPS):
        link = links.get(resource.name)
        if link is None:
            followed[resource.name] = latest_delta_link(client, resource)
            continue
        try:
            resource_changed, followed[resource.name] = changes_since(client, link)
        except GraphError as error:
            if error.status not in (400, 410):
                raise
            resource_changed, followed[resource.name] = True, latest_delta_link(client, resource)
        changed = changed or resource_changed
    return changed, followed
