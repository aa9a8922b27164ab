"""A real, scripted OpenAI-compatible chat server on 127.0.0.1, for tests and benchmarks.

    with ScriptedChatServer(responder=lambda req: "Thought: ok\\nAction: answer(1)") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k")
        server.fail_next([429, 500])   # the next two chat calls fail, then it answers again
        server.hang_next(seconds=5)    # the call after that gets no answer for 5 s

It is aiohttp on its own event loop in a background thread: handlers are async and
``await`` their delay, so hundreds of concurrent clients each waiting ``delay_s`` cost
one thread, not hundreds. Requests are recorded (headers included, so a test can check
the API key arrived) but never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

Responder = Callable[[dict[str, Any]], str | None]

_REASONS = {400: "bad request", 401: "unauthorized", 403: "forbidden", 404: "not found", 429: "rate limited"}


def echo_responder(request: dict[str, Any]) -> str:
    """Default reply: echo the last message, so a test can see what was sent."""
    messages = request.get("messages") or [{}]
    return f"echo: {messages[-1].get('content', '')}"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None

    @property
    def authorization(self) -> str | None:
        return self.headers.get("Authorization")


@dataclass(frozen=True)
class _Fault:
    status: int | None = None  # answer with this HTTP status ...
    hang_s: float | None = None  # ... or say nothing for this long
    retry_after: float | None = None


class ScriptedChatServer:
    """``POST /v1/chat/completions`` and ``GET /v1/models`` with scripted replies and injected faults."""

    def __init__(
        self,
        responder: Responder = echo_responder,
        *,
        delay_s: float = 0.0,
        model: str = "scripted-model",
        host: str = "127.0.0.1",
        backlog: int = 1024,  # well above the benchmark's 256 simultaneous connects
        api_key: str | None = None,  # when set, a request without "Bearer <api_key>" gets 401, as OpenAI answers
    ) -> None:
        self.responder = responder
        self.api_key = api_key
        self.delay_s = delay_s
        self.model = model
        self._host = host
        self._backlog = backlog
        self._faults: deque[_Fault] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self.port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("ScriptedChatServer is not started; use it as a context manager or call start()")
        return f"http://{self._host}:{self.port}/v1"

    def start(self) -> ScriptedChatServer:
        if self._thread is not None:
            raise RuntimeError("ScriptedChatServer is already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, 0))  # port 0: the kernel picks a free one, so parallel tests never clash
        self.port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="scripted-chat-server", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._serve(sock), self._loop).result(timeout=10)
        except BaseException:
            sock.close()
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving, end hanging requests, close the port and join the thread. Idempotent."""
        if self._thread is None or self._loop is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._thread = self._loop = self._runner = None

    def __enter__(self) -> ScriptedChatServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _serve(self, sock: socket.socket) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock, backlog=self._backlog).start()

    async def _shutdown(self) -> None:
        assert self._runner is not None
        if self._stopping is not None:
            self._stopping.set()  # wakes delayed and hanging handlers so cleanup does not wait for them
        await self._runner.cleanup()

    # -- scripting -----------------------------------------------------------------------

    def fail_next(self, statuses: Iterable[int], *, retry_after: float | None = 0) -> None:
        """The next chat calls answer these HTTP statuses, in order (a 429 carries ``Retry-After``)."""
        with self._lock:
            self._faults.extend(_Fault(status=s, retry_after=retry_after) for s in statuses)

    def hang_next(self, n: int = 1, *, seconds: float = 30.0) -> None:
        """The next ``n`` chat calls get no answer for ``seconds`` (longer than the client timeout)."""
        with self._lock:
            self._faults.extend(_Fault(hang_s=seconds) for _ in range(n))

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def request_count(self) -> int:
        return len(self.chat_requests)

    # -- handlers ------------------------------------------------------------------------

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "request body is not JSON")
        fault = self._record(request, body)
        if not self._authorized(request):
            return _error(401, "Incorrect API key provided")
        if fault is not None and fault.hang_s is not None:
            await self._sleep(fault.hang_s)
            return _error(503, "hung request released")  # the client has normally given up by now
        if fault is not None and fault.status is not None:
            headers = (
                {"Retry-After": f"{fault.retry_after:g}"}
                if fault.status == 429 and fault.retry_after is not None
                else {}
            )
            return _error(fault.status, f"injected {_REASONS.get(fault.status, 'server error')}", headers)
        if self.delay_s > 0:
            await self._sleep(self.delay_s)
        return web.json_response(self._completion(body, self.responder(body)))

    async def _models(self, request: web.Request) -> web.StreamResponse:
        self._record(request, None)
        if not self._authorized(request):
            return _error(401, "Incorrect API key provided")
        return web.json_response(
            {"object": "list", "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "tests"}]}
        )

    def _authorized(self, request: web.Request) -> bool:
        return self.api_key is None or request.headers.get("Authorization") == f"Bearer {self.api_key}"

    def _record(self, request: web.Request, body: dict[str, Any] | None) -> _Fault | None:
        """Record the request and pop the next fault for chat calls, atomically."""
        entry = RecordedRequest(request.method, request.path, dict(request.headers), body)
        with self._lock:
            self._requests.append(entry)
            if body is not None and self._faults:
                return self._faults.popleft()
        return None

    async def _sleep(self, seconds: float) -> None:
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _completion(self, body: dict[str, Any], content: str | None) -> dict[str, Any]:
        prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in body.get("messages") or [])
        completion_tokens = len((content or "").split())
        return {
            "id": f"chatcmpl-scripted-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    kind = "rate_limit_error" if status == 429 else "server_error" if status >= 500 else "invalid_request_error"
    payload = {"error": {"message": message, "type": kind, "param": None, "code": str(status)}}
    return web.json_response(payload, status=status, headers=headers)
