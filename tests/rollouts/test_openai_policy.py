"""OpenAIChatPolicy against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import pickle
import threading
import time
from collections.abc import Iterator

import httpx2
import openai
import pytest

from envs.base import Task
from rollouts.errors import PolicyConfigError, PolicyError
from rollouts.policies.openai_chat import OpenAIChatPolicy
from tests.openai_server import ScriptedChatServer

pytestmark = pytest.mark.integration

TASK = Task(task_id="t-0", env_id="agenttune/Test-v0", split="test", seed=0)
MESSAGES = [{"role": "system", "content": "You are an agent."}, {"role": "user", "content": "List the files."}]
KEY_ENV = "AGENTTUNE_TEST_OPENAI_KEY"
SECRET = "sk-test-secret-0123456789"


@pytest.fixture
def server() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer(responder=lambda req: "Thought: look.\nAction: ls") as srv:
        yield srv


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_policy(base_url: str, sleeps: list[float] | None = None, **overrides) -> OpenAIChatPolicy:
    async def record_async(seconds: float) -> None:
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
        "sleep": sleeps.append if sleeps is not None else (lambda s: None),
        "async_sleep": record_async,
    }
    return OpenAIChatPolicy(**(kwargs | overrides))


def test_success_returns_content_and_sends_the_request(server: ScriptedChatServer) -> None:
    policy = make_policy(
        server.base_url, temperature=0.7, max_tokens=64, stop=["Observation:"], extra_body={"top_k": 5}
    )

    assert policy.act(MESSAGES, task=TASK) == "Thought: look.\nAction: ls"

    (request,) = server.chat_requests
    assert request.body["model"] == "test-model"
    assert request.body["messages"] == MESSAGES
    assert request.body["temperature"] == 0.7
    assert request.body["max_tokens"] == 64
    assert request.body["stop"] == ["Observation:"]
    assert request.body["top_k"] == 5
    assert policy.stats == {"calls": 1, "attempts": 1, "retries": 0, "errors": 0}


def test_empty_content_becomes_empty_string() -> None:
    with ScriptedChatServer(responder=lambda req: None) as srv:
        assert make_policy(srv.base_url).act(MESSAGES, task=TASK) == ""


def test_429_then_500_then_success_is_retried(server: ScriptedChatServer, sleeps: list[float]) -> None:
    server.fail_next([429, 500])
    policy = make_policy(server.base_url, sleeps)

    assert policy.act(MESSAGES, task=TASK).startswith("Thought")

    assert server.request_count == 3
    assert policy.stats == {"calls": 1, "attempts": 3, "retries": 2, "errors": 0}
    assert sleeps[0] == 0.0  # the 429 carried Retry-After: 0
    assert 0.005 <= sleeps[1] <= 0.02  # then exponential backoff with jitter from backoff_initial_s


def test_retry_after_is_honoured_but_capped(server: ScriptedChatServer, sleeps: list[float]) -> None:
    server.fail_next([429], retry_after=3600)
    make_policy(server.base_url, sleeps).act(MESSAGES, task=TASK)
    assert sleeps == [0.05]  # backoff_max_s


def test_persistent_503_gives_up_after_max_retries_plus_one(server: ScriptedChatServer) -> None:
    server.fail_next([503] * 10)
    policy = make_policy(server.base_url, max_retries=3)

    with pytest.raises(PolicyError, match=r"after 4 attempts.*HTTP 503: injected server error"):
        policy.act(MESSAGES, task=TASK)

    assert server.request_count == 4
    assert policy.stats == {"calls": 1, "attempts": 4, "retries": 3, "errors": 1}


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_not_retried(server: ScriptedChatServer, status: int) -> None:
    server.fail_next([status])
    policy = make_policy(server.base_url)

    with pytest.raises(PolicyError, match=f"HTTP {status}: injected"):
        policy.act(MESSAGES, task=TASK)

    assert server.request_count == 1
    assert policy.stats["retries"] == 0 and policy.stats["errors"] == 1


def test_hanging_server_times_out_and_is_retried(server: ScriptedChatServer) -> None:
    server.hang_next(2, seconds=10)
    policy = make_policy(server.base_url, timeout_s=0.3, max_retries=1)

    with pytest.raises(PolicyError, match="after 2 attempts.*timed out"):
        policy.act(MESSAGES, task=TASK)

    assert server.request_count == 2


def test_connection_refused_raises_policy_error() -> None:
    with ScriptedChatServer() as srv:
        base_url = srv.base_url
    policy = make_policy(base_url, max_retries=1)  # the port was just released: nothing listens there

    with pytest.raises(PolicyError, match="after 2 attempts.*connection error"):
        policy.act(MESSAGES, task=TASK)
    assert policy.stats["retries"] == 1
    assert "scripted-chat-server" not in {t.name for t in threading.enumerate()}  # the server left nothing behind


def test_api_key_is_sent_but_never_shown(server: ScriptedChatServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    policy = make_policy(server.base_url, max_retries=0)

    policy.act(MESSAGES, task=TASK)
    server.fail_next([401])
    with pytest.raises(PolicyError) as excinfo:
        policy.act(MESSAGES, task=TASK)

    assert server.chat_requests[0].authorization == f"Bearer {SECRET}"
    assert policy.describe() == {"kind": "openai", "model": "test-model", "base_url": server.base_url}
    for shown in (str(policy.describe()), repr(policy), str(excinfo.value), str(policy.last_error)):
        assert SECRET not in shown
    assert KEY_ENV in str(excinfo.value)  # the 401 hint names the variable to fix


def test_key_echoed_by_the_server_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    policy = make_policy("http://127.0.0.1:9/v1")
    # Some servers echo the key back in their 401 message; feed the policy such a failure directly.
    with pytest.raises(PolicyError) as excinfo:
        policy._after_failure(_status_error(401, f"Incorrect API key provided: {SECRET}"), attempt=1)
    assert SECRET not in str(excinfo.value) and "***" in str(excinfo.value)


def test_local_endpoint_without_key_uses_placeholder(
    server: ScriptedChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    make_policy(server.base_url).act(MESSAGES, task=TASK)
    assert server.chat_requests[0].authorization == "Bearer EMPTY"


def test_missing_key_for_default_openai_url_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(PolicyConfigError, match=f"{KEY_ENV} is not set"):
        OpenAIChatPolicy(model="gpt-4o", base_url=None, api_key_env=KEY_ENV)


def test_policy_pickles_without_its_clients(server: ScriptedChatServer) -> None:
    policy = make_policy(server.base_url, sleep=time.sleep, async_sleep=asyncio.sleep)
    policy.act(MESSAGES, task=TASK)
    clone = pickle.loads(pickle.dumps(policy))
    assert clone.act(MESSAGES, task=TASK).startswith("Thought")


def test_async_success_and_retry(server: ScriptedChatServer, sleeps: list[float]) -> None:
    policy = make_policy(server.base_url, sleeps)

    async def main() -> tuple[str, str]:
        first = await policy.aact(MESSAGES, task=TASK)
        server.fail_next([429, 502])
        second = await policy.aact(MESSAGES, task=TASK)
        await policy.aclose()
        return first, second

    assert asyncio.run(main()) == ("Thought: look.\nAction: ls", "Thought: look.\nAction: ls")
    assert server.request_count == 4
    assert policy.stats == {"calls": 2, "attempts": 4, "retries": 2, "errors": 0}
    assert len(sleeps) == 2


def test_async_gives_up_after_retries(server: ScriptedChatServer) -> None:
    server.fail_next([500] * 5)
    policy = make_policy(server.base_url, max_retries=2)

    async def main() -> str:
        try:
            return await policy.aact(MESSAGES, task=TASK)
        finally:
            await policy.aclose()  # in the loop that used it, or its sockets outlive the loop

    with pytest.raises(PolicyError, match="after 3 attempts"):
        asyncio.run(main())
    assert server.request_count == 3


def test_server_answers_models_and_many_concurrent_delayed_calls() -> None:
    """The benchmark's shape, scaled down: concurrent clients all wait out one delay together."""
    with ScriptedChatServer(delay_s=0.5) as srv:
        policy = make_policy(srv.base_url)

        async def main() -> list[str]:
            replies = await asyncio.gather(*(policy.aact(MESSAGES, task=TASK) for _ in range(64)))
            models = await policy._async_openai().models.list()
            assert [m.id for m in models.data] == ["scripted-model"]
            await policy.aclose()
            return replies

        start = time.perf_counter()
        replies = asyncio.run(main())
        elapsed = time.perf_counter() - start
    assert replies == ["echo: List the files."] * 64
    assert elapsed < 2.5  # 64 x 0.5 s served concurrently, not one after another


def _status_error(status: int, message: str) -> openai.APIStatusError:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx2.Response(status, request=request, json={"error": {"message": message}})
    return openai.AuthenticationError(message, response=response, body={"message": message})


def test_error_hints_name_config_keys_that_exist() -> None:
    import re

    from rollouts.config import PolicyConfig
    from rollouts.policies import openai_chat

    hints = " ".join([*openai_chat._HINTS.values(), openai_chat._DEFAULT_HINT])
    named = set(re.findall(r"rollout\.policy\.(\w+)", hints))
    assert named and named <= set(PolicyConfig.model_fields), named - set(PolicyConfig.model_fields)
