"""The served emulator checked by a client nobody here wrote: Microsoft's msgraph-sdk-python (dev extra only) pages
users, follows a delta round with removals, reads members@delta, sends a $batch and reads users' authentication
methods into its typed models, over a real socket.

The SDK asks its credential for a token; ``EmulatorCredential`` hands it one from the emulator's token endpoint.
Two habits of the SDK show here, as they do against Graph: it calls delta as a function (``/users/delta()``), and
its ``BatchRequestItem`` keeps the absolute URL, which Graph answers 400 (msgraph-sdk-python issue 1015; its
``set_url`` does not help: its version regex is written JavaScript-style), so the test makes it relative as the
issue's workaround does. The SDK's async client is bound to one event loop: one ``asyncio.run`` per client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.auth_methods import authentication_methods
from m365_pipeline.emulator.server import ServedEmulator, serve
from m365_pipeline.emulator.tenant import REFERENCE_TIME, SyntheticTenant, generate_tenant
from m365_pipeline_tests.emulator.helpers import request_token

msgraph = pytest.importorskip("msgraph", reason="msgraph-sdk is in the dev extra")

from azure.core.credentials import AccessToken  # noqa: E402
from kiota_abstractions.base_request_configuration import RequestConfiguration  # noqa: E402
from kiota_authentication_azure.azure_identity_authentication_provider import (  # noqa: E402
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient  # noqa: E402
from msgraph.generated.groups.delta.delta_request_builder import (  # noqa: E402
    DeltaRequestBuilder as GroupsDeltaRequestBuilder,
)
from msgraph.generated.users.users_request_builder import UsersRequestBuilder  # noqa: E402
from msgraph_core import PageIterator  # noqa: E402
from msgraph_core.requests.batch_request_content import BatchRequestContent  # noqa: E402
from msgraph_core.requests.batch_request_item import BatchRequestItem  # noqa: E402


class EmulatorCredential:
    """An azure-core TokenCredential that returns a token the emulator issued."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **options: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)


@pytest.fixture(scope="module")
def tenant() -> SyntheticTenant:
    # few users: the SDK spends some 20 ms deserializing each user
    return generate_tenant(71, 130)


@pytest.fixture(scope="module")
def emulator(tenant: SyntheticTenant) -> GraphEmulator:
    return GraphEmulator(tenant)


@pytest.fixture(scope="module")
def served(emulator: GraphEmulator) -> Iterator[ServedEmulator]:
    with serve(emulator) as where:
        yield where


@pytest.fixture
def sdk(served: ServedEmulator, tenant: SyntheticTenant) -> GraphServiceClient:
    with httpx.Client() as http:
        token = request_token(http, tenant.tenant_id, login=served.url).json()["access_token"]
    provider = AzureIdentityAuthenticationProvider(
        EmulatorCredential(token), scopes=["https://graph.microsoft.com/.default"], allowed_hosts=["127.0.0.1"]
    )
    adapter = GraphRequestAdapter(provider)
    adapter.base_url = served.graph_base_url
    return GraphServiceClient(request_adapter=adapter)


def test_the_sdk_pages_every_user_through_the_sign_in_activity_cap(
    sdk: GraphServiceClient, tenant: SyntheticTenant
) -> None:
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        select=["id", "displayName", "signInActivity"], top=999
    )
    configuration = UsersRequestBuilder.UsersRequestBuilderGetRequestConfiguration(query_parameters=query)

    async def every_user() -> tuple[list[str], int]:
        first = await sdk.users.get(request_configuration=configuration)
        assert first is not None and first.value is not None
        ids: list[str] = []

        def keep(user: Any) -> bool:
            ids.append(user.id)
            return True  # go on

        await PageIterator(first, sdk.request_adapter).iterate(keep)
        return ids, len(first.value)

    ids, first_page = asyncio.run(every_user())
    assert first_page == 120
    assert ids == [user["id"] for user in tenant.users]


def test_the_sdk_follows_a_delta_round_and_sees_removals(
    sdk: GraphServiceClient, emulator: GraphEmulator, tenant: SyntheticTenant
) -> None:
    async def one_round(url: str | None) -> tuple[list[Any], str]:
        page = await (sdk.users.delta.with_url(url) if url else sdk.users.delta).get()
        users: list[Any] = []
        while True:
            assert page is not None and page.value is not None
            users += page.value
            if not page.odata_next_link:
                assert page.odata_delta_link
                return users, page.odata_delta_link
            page = await sdk.users.delta.with_url(page.odata_next_link).get()

    soft, hard, renamed = (tenant.users[index]["id"] for index in (10, 11, 12))

    async def two_rounds() -> tuple[list[Any], list[Any]]:
        users, link = await one_round(None)
        state = emulator.state()
        state.soft_delete(soft)
        state.hard_delete(hard)
        state.update_user(renamed, displayName="改名 太郎")
        changed, _ = await one_round(link)
        return users, changed

    users, changed = asyncio.run(two_rounds())
    assert sorted(user.id for user in users) == sorted(user["id"] for user in tenant.users)
    by_id = {user.id: user for user in changed}
    assert set(by_id) == {soft, hard, renamed}
    assert by_id[soft].additional_data["@removed"] == {"reason": "changed"}
    assert by_id[hard].additional_data["@removed"] == {"reason": "deleted"}
    assert by_id[renamed].display_name == "改名 太郎"


def test_the_sdk_reads_group_membership_from_members_delta(
    sdk: GraphServiceClient, emulator: GraphEmulator, tenant: SyntheticTenant
) -> None:
    query = GroupsDeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(select=["displayName", "members"])
    configuration = RequestConfiguration(query_parameters=query)

    async def one_round() -> dict[str, set[str]]:
        page = await sdk.groups.delta.get(request_configuration=configuration)
        members: dict[str, set[str]] = {}
        while True:
            assert page is not None and page.value is not None
            for group in page.value:
                assert group.id is not None
                held = members.setdefault(group.id, set())
                for reference in group.additional_data.get("members@delta", []):
                    # the SDK reads the untyped ids as UUIDs
                    (held.discard if "@removed" in reference else held.add)(str(reference["id"]))
            if not page.odata_next_link:
                return members
            page = await sdk.groups.delta.with_url(page.odata_next_link).get()

    members = asyncio.run(one_round())
    state = emulator.state()
    assert members == {group_id: set(held) for group_id, held in state.members.items() if group_id in state.groups.live}


def test_the_sdk_batches_twenty_requests_and_matches_the_answers_by_id(
    sdk: GraphServiceClient, tenant: SyntheticTenant, served: ServedEmulator
) -> None:
    users = tenant.users[20:40]

    async def batch() -> dict[str, tuple[int | None, dict[str, str] | None]]:
        items = []
        for user in users:
            information = sdk.users.by_user_id(user["id"]).authentication.methods.to_get_request_information()
            item = BatchRequestItem(request_information=information)
            item.url = information.url.removeprefix(served.graph_base_url)  # relative: issue 1015's workaround
            items.append(item)
        content = BatchRequestContent({item.id: item for item in items})
        answer = await sdk.batch.post(batch_request_content=content)
        assert answer.responses is not None
        ids = {item.id: user["id"] for item, user in zip(items, users, strict=True)}
        return {ids[key]: (response.status, response.headers) for key, response in answer.responses.items()}

    answers = asyncio.run(batch())
    assert set(answers) == {user["id"] for user in users}
    for status, headers in answers.values():
        # msgraph-core reads a batch response's body as base64 bytes, so a JSON body is not there to compare
        assert status == 200 and headers is not None and headers["Content-Type"].startswith("application/json")


def test_the_sdk_reads_each_users_methods_as_graphs_typed_methods(
    sdk: GraphServiceClient, emulator: GraphEmulator
) -> None:
    state = emulator.state()
    with state.lock:  # the live users: the delta test has removed some
        users = [dict(user) for user in list(state.users.live.values())[:30]]

    async def methods() -> dict[str, list[Any]]:
        read = {}
        for user in users:
            answer = await sdk.users.by_user_id(user["id"]).authentication.methods.get()
            assert answer is not None and answer.value is not None
            read[user["id"]] = answer.value
        return read

    read = asyncio.run(methods())
    for user in users:
        expected = authentication_methods(user, REFERENCE_TIME)
        got = read[user["id"]]
        # the SDK picks each method's class from its @odata.type (an unknown type would stay a bare method)
        classes = [type(method).__name__ for method in got]
        assert [name[0].lower() + name[1:] for name in classes] == [
            method["@odata.type"].split(".")[-1] for method in expected
        ]
        for method, truth in zip(got, expected, strict=True):
            assert method.id == truth["id"]
            if "phoneNumber" in truth:
                assert (method.phone_number, method.phone_type.value) == (truth["phoneNumber"], truth["phoneType"])
            if "emailAddress" in truth:
                assert method.email_address == truth["emailAddress"]
            if "aaGuid" in truth:
                assert (method.aa_guid, method.attestation_level.value) == (truth["aaGuid"], truth["attestationLevel"])
            if "keyStrength" in truth:
                assert method.key_strength.value == truth["keyStrength"]
    kinds = {type(method).__name__ for got in read.values() for method in got}
    assert {
        "PasswordAuthenticationMethod",
        "PhoneAuthenticationMethod",
        "MicrosoftAuthenticatorAuthenticationMethod",
    } <= kinds
