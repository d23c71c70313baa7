from __future__ import annotations

from m365_pipeline.graph.errors import GraphAuthError, GraphError, GraphRetriesExhausted

URL = "https://graph.microsoft.com/v1.0/users?$select=id&$skiptoken=RFNwdAIAAQAAAB8"


def test_graph_error_names_status_code_message_request_id_and_path_only() -> None:
    error = GraphError(403, "Authorization_RequestDenied", "Insufficient privileges.", request_id="r-1", url=URL)
    assert str(error) == (
        "GET /v1.0/users: HTTP 403 Authorization_RequestDenied: Insufficient privileges. (request-id r-1)"
    )


def test_retries_exhausted_tells_the_attempts_and_an_error_without_status_omits_it() -> None:
    error = GraphRetriesExhausted(0, "RemoteProtocolError", "peer closed connection", attempts=7, url=URL)
    assert str(error) == "GET /v1.0/users: RemoteProtocolError: peer closed connection - gave up after 7 attempts"
    assert isinstance(error, GraphError) and error.attempts == 7


def test_auth_error_is_a_graph_error() -> None:
    error = GraphAuthError(0, "invalid_client", "AADSTS7000215: Invalid client secret provided.", method="POST")
    assert isinstance(error, GraphError) and str(error).startswith("POST: invalid_client: AADSTS7000215")
