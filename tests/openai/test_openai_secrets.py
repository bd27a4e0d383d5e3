"""API keys, Authorization headers and organization/project ids never reach a stored span."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import openai
import pytest
import respx

import llmtrace
import llmtrace.openai
from tests.openai_fakes import (
    BASE_URL,
    FAKE_KEY,
    FAKE_ORG,
    FAKE_PROJECT,
    MODEL,
    USER,
    make_client,
    mock_api,
)

SECRETS = (FAKE_KEY, FAKE_ORG, FAKE_PROJECT, FAKE_KEY[3:20], FAKE_ORG[4:])


def _echo_secrets(request: httpx.Request) -> httpx.Response:
    """A 401 whose body repeats the credentials it was sent, as real servers sometimes do."""
    return httpx.Response(
        401,
        json={
            "error": {
                "message": (
                    f"Incorrect API key provided: {FAKE_KEY}. Organization {FAKE_ORG}, "
                    f"project {FAKE_PROJECT}; you sent {request.headers['authorization']}"
                ),
                "code": "invalid_api_key",
            }
        },
    )


def test_no_credential_in_any_stored_span(backend: str) -> None:
    sync_client = llmtrace.openai.wrap(make_client(False))
    async_client = llmtrace.openai.wrap(make_client(True))
    with respx.mock(assert_all_called=False) as router:
        mock_api(router)
        sync_client.chat.completions.create(
            model=MODEL,
            messages=[USER],
            extra_headers={"Authorization": f"Bearer {FAKE_KEY}", "OpenAI-Organization": FAKE_ORG},
            extra_query={"api-key": FAKE_KEY},
        )
        list(sync_client.chat.completions.create(model=MODEL, messages=[USER], stream=True))
        sync_client.responses.create(model=MODEL, input="hi", stream=False)
        sync_client.embeddings.create(model="text-embedding-3-small", input="hi")
        asyncio.run(async_client.responses.create(model=MODEL, input="hi"))
        router.post(BASE_URL + "/chat/completions").mock(side_effect=_echo_secrets)
        with pytest.raises(openai.AuthenticationError) as caught:
            sync_client.chat.completions.create(model=MODEL, messages=[USER])
        with pytest.raises(openai.AuthenticationError):
            asyncio.run(async_client.chat.completions.create(model=MODEL, messages=[USER]))
    assert FAKE_KEY in str(caught.value)  # the user's exception is untouched...

    traces = llmtrace.search_traces()
    assert len(traces) == 7
    stored = "\n".join(trace.to_json() for trace in traces)
    assert "Incorrect API key provided: [REDACTED]" in stored  # ...the stored copy is not
    assert "Organization [REDACTED], project [REDACTED]" in stored
    for secret in SECRETS:
        assert secret not in stored, secret
    errors = [t for t in traces if t.info.state.value == "ERROR"]
    assert len(errors) == 2
    for trace in errors:
        (span,) = trace.data.spans
        assert any(e.name == "exception" for e in span.events)

    if backend.startswith("sqlite:///"):  # and not in the database file, in any table
        raw = Path(backend.removeprefix("sqlite:///")).read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in raw, secret
