"""OpenAIChatPolicy.aact (the aiohttp chat path a rollout actor runs) against a real server on 127.0.0.1: the same
request, retries, errors and secrecy as the openai client's path."""

from __future__ import annotations

import asyncio

import pytest

from envs.base import Task
from rollouts.errors import PolicyError
from rollouts.policies.openai_chat import OpenAIChatPolicy, _http_failure
from tests.openai_server import ScriptedChatServer

pytestmark = pytest.mark.integration

TASK = Task(task_id="t-0", env_id="agenttune/Test-v0", split="test", seed=0)
MESSAGES = [{"role": "system", "content": "You are an agent."}, {"role": "user", "content": "List the files."}]
KEY_ENV = "AGENTTUNE_TEST_OPENAI_KEY"
SECRET = "sk-test-secret-0123456789"


def make_policy(base_url: str, sleeps: list[float] | None = None, **overrides) -> OpenAIChatPolicy:
    async def record(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    kwargs = {
        "model": "test-model",
        "base_url": base_url,
        "api_key_env": KEY_ENV,
        "timeout_s": 5.0,
        "max_retries": 3,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.05,
        "async_sleep": record,
    }
    return OpenAIChatPolicy(**(kwargs | overrides))


def play(policy: OpenAIChatPolicy, calls: int = 1) -> list[str]:
    async def main() -> list[str]:
        try:
            return [await policy.aact(MESSAGES, task=TASK) for _ in range(calls)]
        finally:
            await policy.aclose()

    return asyncio.run(main())


def test_async_request_matches_the_openai_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    with ScriptedChatServer(responder=lambda req: "Thought: look.\nAction: ls") as srv:
        policy = make_policy(srv.base_url, temperature=0.7, max_tokens=64, stop=["Obs:"], extra_body={"top_k": 5})
        assert play(policy, calls=2) == ["Thought: look.\nAction: ls"] * 2
        first = srv.chat_requests[0]
    assert first.body == {
        "model": "test-model",
        "messages": MESSAGES,
        "temperature": 0.7,
        "max_tokens": 64,
        "stop": ["Obs:"],
        "top_k": 5,
    }
    assert first.authorization == f"Bearer {SECRET}"
    assert first.headers["Content-Type"].startswith("application/json")
    assert policy.stats == {"calls": 2, "attempts": 2, "retries": 0, "errors": 0}


def test_async_empty_content_becomes_empty_string() -> None:
    with ScriptedChatServer(responder=lambda req: None) as srv:
        assert play(make_policy(srv.base_url)) == [""]


def test_async_429_honours_retry_after_then_backs_off() -> None:
    sleeps: list[float] = []
    with ScriptedChatServer(responder=lambda req: "ok") as srv:
        srv.fail_next([429, 500])
        policy = make_policy(srv.base_url, sleeps)
        assert play(policy) == ["ok"]
        assert srv.request_count == 3
    assert sleeps[0] == 0.0  # the 429 carried Retry-After: 0
    assert 0.005 <= sleeps[1] <= 0.02
    assert policy.stats == {"calls": 1, "attempts": 3, "retries": 2, "errors": 0}


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_async_client_errors_are_not_retried_and_hide_the_key(status: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    with ScriptedChatServer() as srv:
        srv.fail_next([status])
        policy = make_policy(srv.base_url)
        with pytest.raises(PolicyError, match=f"HTTP {status}: injected") as excinfo:
            play(policy)
        assert srv.request_count == 1
    assert policy.stats["retries"] == 0 and policy.stats["errors"] == 1
    assert SECRET not in str(excinfo.value)
    if status == 401:
        assert KEY_ENV in str(excinfo.value)  # the hint names the variable to fix


def test_async_hanging_server_times_out_and_is_retried() -> None:
    with ScriptedChatServer() as srv:
        srv.hang_next(2, seconds=10)
        policy = make_policy(srv.base_url, timeout_s=0.3, max_retries=1)
        with pytest.raises(PolicyError, match="after 2 attempts.*timed out"):
            play(policy)
        assert srv.request_count == 2


def test_async_connection_refused_is_retried_then_raises() -> None:
    with ScriptedChatServer() as srv:
        base_url = srv.base_url
    policy = make_policy(base_url, max_retries=1)  # nothing listens on the port any more
    with pytest.raises(PolicyError, match="after 2 attempts.*connection error"):
        play(policy)
    assert policy.stats["retries"] == 1


def test_http_failures_read_openai_and_plain_bodies(monkeypatch: pytest.MonkeyPatch) -> None:
    echoed = _http_failure(401, f'{{"error": {{"message": "Incorrect API key provided: {SECRET}"}}}}', {})
    assert (echoed.retryable, echoed.status) == (False, 401)
    monkeypatch.setenv(KEY_ENV, SECRET)
    with pytest.raises(PolicyError) as excinfo:
        make_policy("http://127.0.0.1:9/v1")._after_failure(echoed, attempt=1)
    assert SECRET not in str(excinfo.value) and "***" in str(excinfo.value)

    gateway = _http_failure(502, "<html>bad gateway</html>", {"retry-after": "2"})
    assert (gateway.retryable, gateway.retry_after_s, gateway.description) == (
        True,
        2.0,
        "HTTP 502: <html>bad gateway</html>",
    )
    assert _http_failure(409, '{"message": "busy"}', {}).description == "HTTP 409: busy"


def test_a_policy_used_from_loops_no_one_closed_leaves_no_open_session(recwarn: pytest.WarningsRecorder) -> None:
    """``run_episode`` runs each episode on a fresh loop and never calls ``aclose``: the clients of a finished
    loop are dropped closed, not left to warn "Unclosed client session" when collected."""
    import gc

    with ScriptedChatServer(responder=lambda req: "ok") as srv:
        policy = make_policy(srv.base_url)
        for _ in range(3):
            assert asyncio.run(policy.aact(MESSAGES, task=TASK)) == "ok"
        del policy
        gc.collect()
    assert not [w for w in recwarn if "Unclosed" in str(w.message)]
