"""A policy backed by any OpenAI-compatible chat completions endpoint (OpenAI, vLLM, ``transformers serve``).

    policy = OpenAIChatPolicy(model="gpt-4", base_url=None)                 # key from $OPENAI_API_KEY
    policy = OpenAIChatPolicy(model="m", base_url="http://127.0.0.1:8000/v1")  # local server, no key needed
    text = policy.act(messages, task=task)          # or: await policy.aact(...), then await policy.aclose()

``act`` (and ``preflight``) go through the ``openai`` client. ``aact``, which a rollout actor runs hundreds
of at once, sends the same request body with one aiohttp session per event loop: the ``openai`` async
client's layers (request building, httpx, anyio) cost about 1.6-2.1 ms of CPU per call against 0.2-0.4 ms
for aiohttp's (measured at 256 in flight), and at 256 episodes in flight that CPU is what keeps an actor
from the endpoint's own pace. Both paths classify failures the same way (``_Failure``).

The openai client's own retries are switched off (``max_retries=0``): we retry here so
every retry is counted in ``policy.stats`` (for rollout metrics) and logged. Retried:
429 (honouring ``Retry-After``), 408, 409, 5xx, timeouts and connection errors, with
exponential backoff and jitter. Other 4xx mean the request itself is wrong, so they
raise ``PolicyError`` at once. The API key is read from the environment variable
named by ``api_key_env`` and never appears in ``describe()``, ``repr()``, logs or errors.

Async callers should ``await policy.aclose()`` in the loop that ran ``aact``: the client's
pooled sockets belong to that loop and cannot be closed once it is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar
from urllib.parse import urlparse

import openai

from envs.base import Task
from rollouts.config import PolicyConfig
from rollouts.errors import PolicyConfigError, PolicyError
from rollouts.policies.base import Message, Policy

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_DEFAULTS = PolicyConfig(kind="openai")  # the policy's defaults are the config's: written once, there
PLACEHOLDER_KEY = "EMPTY"  # what vLLM and `transformers serve` accept when started without --api-key
RETRYABLE_STATUS = frozenset({408, 409, 429})  # plus every 5xx
_HINTS = {
    401: "check that {env} holds a valid key for this endpoint",
    403: "check that the key in {env} may use this model",
    404: "check rollout.policy.model and rollout.policy.base_url (it should end in /v1)",
}
_DEFAULT_HINT = (
    "not retried; check rollout.policy.model, rollout.policy.max_tokens, rollout.policy.stop and "
    "rollout.policy.extra_body"
)


@dataclass(frozen=True)
class _Failure:
    """One failed attempt, reduced to what the retry decision needs."""

    retryable: bool
    description: str  # safe to log: status, server message or error kind; never the key
    retry_after_s: float | None = None
    status: int | None = None


class OpenAIChatPolicy(Policy):
    kind: ClassVar[str] = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        api_key_env: str = _DEFAULTS.api_key_env,
        temperature: float = _DEFAULTS.temperature,
        max_tokens: int = _DEFAULTS.max_tokens,
        timeout_s: float = _DEFAULTS.timeout_s,
        max_retries: int = _DEFAULTS.max_retries,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
        stop: list[str] | None = None,
        extra_body: dict[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not model:
            raise PolicyConfigError("rollout.policy.model is empty: set it to the model name the endpoint serves")
        if max_retries < 0:
            raise PolicyConfigError(f"rollout.policy.max_retries must be >= 0, got {max_retries}")
        self._model = model
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.api_key_env = api_key_env
        self._api_key = _read_api_key(api_key_env, self.base_url)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.stop = list(stop) if stop else None
        self.extra_body = dict(extra_body) if extra_body else None
        self._sleep = sleep
        self._async_sleep = async_sleep
        # calls: act/aact invocations; attempts: HTTP requests; retries: attempts after a retryable
        # failure; errors: calls that ended in PolicyError.
        self.stats = {"calls": 0, "attempts": 0, "retries": 0, "errors": 0}
        self.last_error: str | None = None
        self._init_runtime_state()

    def _init_runtime_state(self) -> None:
        # Clients are made lazily: a policy can be pickled to a Ray actor before it ever talks to
        # the server, and an async client must belong to the event loop that uses it.
        self._lock = threading.Lock()
        self._client: openai.OpenAI | None = None
        self._async_clients: _LoopClients | None = None

    @property
    def model(self) -> str:
        return self._model

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self._model, "base_url": self.base_url}

    def __repr__(self) -> str:
        return f"OpenAIChatPolicy(model={self._model!r}, base_url={self.base_url!r}, api_key_env={self.api_key_env!r})"

    # -- acting ------------------------------------------------------------------------

    def act(self, messages: list[Message], *, task: Task) -> str:
        self._count("calls")
        for attempt in range(1, self.max_retries + 2):
            self._count("attempts")
            try:
                completion = self._sync_client().chat.completions.create(**self._request(messages))
            except openai.OpenAIError as exc:
                self._sleep(self._after_failure(exc, attempt))
                continue
            return self._content(completion)
        raise AssertionError("unreachable: _after_failure raises on the last attempt")

    async def aact(self, messages: list[Message], *, task: Task) -> str:
        """``act`` for asyncio callers: same request, same retry policy, same stats (aiohttp; see the module doc)."""
        self._count("calls")
        for attempt in range(1, self.max_retries + 2):
            self._count("attempts")
            try:
                data = await self._apost(self._body(messages))
            except _AttemptFailed as failed:
                await self._async_sleep(self._after_failure(failed.failure, attempt))
                continue
            return self._content(data)
        raise AssertionError("unreachable: _after_failure raises on the last attempt")

    def preflight(self) -> None:
        """One request before any episode: the endpoint answers, takes the key and serves the model.

        A rollout against a server that is down or refuses the key would otherwise spend every episode's
        retries before saying so. Same retries and errors as a chat call (``PolicyError`` with what to fix);
        a server without a model list (404) passes, as it cannot tell more.
        """
        for attempt in range(1, self.max_retries + 2):
            try:
                page = self._sync_client().models.list()
            except openai.NotFoundError:
                return
            except openai.OpenAIError as exc:
                self._sleep(self._after_failure(exc, attempt))
                continue
            served = [m.id for m in page.data]
            if served and self._model not in served:
                raise PolicyConfigError(
                    f"rollout.policy.model: {self.base_url} does not serve {self._model!r}; it serves "
                    f"{', '.join(served[:10])}{' ...' if len(served) > 10 else ''}"
                )
            return

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        # An async client can only be closed from its own loop (see aclose); dropping it is enough here.
        self._client = self._async_clients = None

    async def aclose(self) -> None:
        if self._async_clients is not None:
            await self._async_clients.aclose()
        self.close()

    # -- shared by act and aact -----------------------------------------------------------

    def _request(self, messages: list[Message]) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if self.stop:
            request["stop"] = self.stop
        if self.extra_body:
            request["extra_body"] = self.extra_body
        return request

    def _body(self, messages: list[Message]) -> dict[str, Any]:
        """The JSON body of a chat call: the request with ``extra_body`` merged in, as the openai client sends it."""
        request = self._request(messages)
        return {k: v for k, v in request.items() if k != "extra_body"} | request.get("extra_body", {})

    async def _apost(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``/chat/completions`` on this loop's aiohttp session; the decoded completion, or ``_AttemptFailed``."""
        import aiohttp

        session = self._clients_of_this_loop().session()
        try:
            async with session.post(f"{self.base_url}/chat/completions", json=body) as response:
                text = await response.text()
                if response.status >= 400:
                    raise _AttemptFailed(_http_failure(response.status, text, response.headers))
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise _AttemptFailed(_Failure(True, "request timed out")) from None
        except aiohttp.ClientConnectionError as e:
            raise _AttemptFailed(_Failure(True, f"connection error ({type(e).__name__}: {e})")) from None
        except aiohttp.ClientError as e:  # a malformed response, ...: asking again will not help
            raise _AttemptFailed(_Failure(False, f"{type(e).__name__}: {e}")) from None
        try:
            data = json.loads(text)
        except ValueError:
            raise _AttemptFailed(_Failure(False, f"the response is not JSON: {text[:200]!r}")) from None
        if not isinstance(data, dict):
            raise _AttemptFailed(_Failure(False, f"the response is not a completion object: {text[:200]!r}"))
        return data

    def _content(self, completion: Any) -> str:
        """The reply text of a completion: the openai client's object (``act``) or the decoded JSON (``aact``)."""
        choices = completion.get("choices") if isinstance(completion, dict) else completion.choices
        if not choices:
            self._count("errors")
            raise PolicyError(
                f"openai policy: {self.base_url} returned a completion with no choices for {self._model!r}"
            )
        # None or "" is passed on as "": the env then treats it as a malformed action.
        if isinstance(completion, dict):
            return ((choices[0] or {}).get("message") or {}).get("content") or ""
        return choices[0].message.content or ""

    def _after_failure(self, exc: openai.OpenAIError | _Failure, attempt: int) -> float:
        """Decide what a failed attempt means: the seconds to wait before retrying, or raise ``PolicyError``."""
        failure = self._redacted(exc if isinstance(exc, _Failure) else _classify(exc))
        self.last_error = failure.description
        attempts = self.max_retries + 1
        if not failure.retryable:
            self._count("errors")
            hint = _HINTS.get(failure.status or 0, _DEFAULT_HINT).format(env=self.api_key_env)
            raise PolicyError(
                f"openai policy: {self.base_url} rejected the request for model {self._model!r}: "
                f"{failure.description}; {hint}"
            ) from None
        if attempt >= attempts:
            self._count("errors")
            raise PolicyError(
                f"openai policy: gave up on {self.base_url} (model {self._model!r}) after {attempts} attempts "
                f"(rollout.policy.max_retries={self.max_retries}); last error: {failure.description}. Check that the "
                f"server is up and reachable, or raise rollout.policy.max_retries / rollout.policy.timeout_s"
            ) from None
        delay = self._backoff(attempt, failure.retry_after_s)
        self._count("retries")
        log.warning(
            "openai policy: attempt %d/%d failed (%s); retrying in %.2fs",
            attempt,
            attempts,
            failure.description,
            delay,
        )
        return delay

    def _backoff(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:  # the server knows best when it can take us again, within reason
            return min(max(retry_after_s, 0.0), self.backoff_max_s)
        ceiling = min(self.backoff_initial_s * 2 ** (attempt - 1), self.backoff_max_s)
        # Equal jitter: half fixed so we always back off, half random so parallel workers spread out.
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _redacted(self, failure: _Failure) -> _Failure:
        # Servers sometimes echo the key back ("Incorrect API key provided: sk-..."); never pass it on.
        if self._api_key == PLACEHOLDER_KEY or self._api_key not in failure.description:
            return failure
        return replace(failure, description=failure.description.replace(self._api_key, "***"))

    def _count(self, key: str) -> None:
        with self._lock:  # act may run in several threads of one Ray actor
            self.stats[key] += 1

    # -- clients -------------------------------------------------------------------------

    def _client_kwargs(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "api_key": self._api_key, "timeout": self.timeout_s, "max_retries": 0}

    def _sync_client(self) -> openai.OpenAI:
        if self._client is None:
            self._client = openai.OpenAI(**self._client_kwargs())
        return self._client

    def _clients_of_this_loop(self) -> _LoopClients:
        loop = asyncio.get_running_loop()
        if self._async_clients is None or self._async_clients.loop is not loop:
            if self._async_clients is not None:
                self._async_clients.abandon()  # a loop no one closed them in (``run_episode`` makes one a call)
            self._async_clients = _LoopClients(loop, self)
        return self._async_clients

    def _async_openai(self) -> openai.AsyncOpenAI:
        """An ``openai`` async client of the running loop (for calls beyond chat, e.g. ``models.list()``)."""
        return self._clients_of_this_loop().openai()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in ("_lock", "_client", "_async_clients"):  # not picklable; rebuilt on the other side
            state.pop(name)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime_state()


class _AttemptFailed(Exception):
    """One failed ``aact`` attempt, already classified."""

    def __init__(self, failure: _Failure):
        super().__init__(failure.description)
        self.failure = failure


class _LoopClients:
    """The HTTP clients of one event loop: an aiohttp session for chat calls, an ``openai`` client on demand.

    Both hold sockets of this loop, so they are made inside it and closed by ``aclose`` from it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, policy: OpenAIChatPolicy):
        self.loop, self._policy = loop, policy
        self._session: Any = None
        self._openai: openai.AsyncOpenAI | None = None

    def session(self) -> Any:
        import aiohttp

        if self._session is None:
            p = self._policy
            self._session = aiohttp.ClientSession(
                # No cap on connections: the actor's own concurrency bounds them (as with the openai client).
                connector=aiohttp.TCPConnector(limit=0),
                # As the openai client's timeout: each connect and each read may take timeout_s.
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=p.timeout_s, sock_read=p.timeout_s),
                headers={"Authorization": f"Bearer {p._api_key}", "User-Agent": "agenttune"},
            )
        return self._session

    def openai(self) -> openai.AsyncOpenAI:
        if self._openai is None:
            self._openai = openai.AsyncOpenAI(**self._policy._client_kwargs())
        return self._openai

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._openai is not None:
            await self._openai.close()
        self._session = self._openai = None

    def abandon(self) -> None:
        """Drop the clients without their loop (it is gone, or was never told to close them): the session and its
        connection pool are marked closed, and the sockets closed where the loop is not running, so nothing
        warns "Unclosed client session" when they are collected."""
        session, self._session, self._openai = self._session, None, None
        if session is None or session.closed:
            return
        connector = session.connector
        session.detach()
        if connector is not None and not self.loop.is_running():
            # close()'s synchronous part: close() itself schedules a task on the loop, which may be closed.
            connector._close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # never raise from a finalizer
            self.abandon()


def _read_api_key(env_var: str, base_url: str) -> str:
    key = os.environ.get(env_var)
    if key:
        return key
    host = urlparse(base_url).hostname or ""
    if host == "openai.com" or host.endswith(".openai.com"):
        raise PolicyConfigError(
            f"rollout.policy.api_key_env: the environment variable {env_var} is not set, and {base_url} needs "
            f"an API key. Export it (export {env_var}=...) before starting the rollout, or point "
            f"rollout.policy.base_url at a self-hosted endpoint"
        )
    # Self-hosted servers (vLLM, transformers serve) usually run without a key; the client still wants one.
    return PLACEHOLDER_KEY


def _classify(exc: openai.OpenAIError) -> _Failure:
    if isinstance(exc, openai.APITimeoutError):
        return _Failure(True, "request timed out")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        return _Failure(True, f"connection error ({type(cause).__name__}: {cause})" if cause else "connection error")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retryable = status in RETRYABLE_STATUS or status >= 500
        description = f"HTTP {status}: {_server_message(exc)}"
        return _Failure(retryable, description, _retry_after_s(exc.response.headers) if retryable else None, status)
    # Anything else (an unparsable response, ...) will not get better by asking again.
    return _Failure(False, f"{type(exc).__name__}: {exc}")


def _http_failure(status: int, text: str, headers: Any) -> _Failure:
    """An HTTP error answer of ``aact``'s request, classified as ``_classify`` classifies the openai client's."""
    retryable = status in RETRYABLE_STATUS or status >= 500
    message = text[:500]
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):  # OpenAI's shape, {"error": {"message": ...}}, or a bare {"message": ...}
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            message = str(error["message"])
        elif isinstance(error, str) and error:
            message = error
    return _Failure(retryable, f"HTTP {status}: {message}", _retry_after_s(headers) if retryable else None, status)


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    if isinstance(body, str) and body:
        return body[:500]
    return exc.message


def _retry_after_s(headers: Any) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, or ``Retry-After`` in seconds or as a date)."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None
