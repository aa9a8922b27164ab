"""Served policies: an engine's own OpenAI-compatible server per replica, each in a Ray actor.

    with serve(cfg.policy, "runs/x/model") as endpoints:       # cfg.policy.kind == "served"
        run_rollouts(jobs, policy=cfg.policy, endpoints=endpoints, pool=cfg, out_path=...)
    # every server is stopped here, also when the block raised

``serve`` starts ``replicas`` ``ModelServer`` actors (each reserving ``cpus_per_replica`` and
``gpus_per_replica``), and each launches the engine's server, ``vllm serve`` or ``transformers serve``
(with continuous batching), on its node, then waits until it lists the model. The rollout actors talk to
them with the OpenAI client; a ``ServedPolicy`` keeps every turn of an episode on one replica (its prefix
cache holds the conversation) and sends a new episode to the replica with the fewest in flight. No HTTP
server of our own: the engines' servers are what users run in production.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator
from typing import Any

import ray

from rollouts.config import PolicyConfig
from rollouts.errors import PolicyConfigError, RolloutError

log = logging.getLogger(__name__)

HEALTH_POLL_S = 1.0


# `transformers serve` sizes its continuous-batching KV cache from free memory: 60% of the machine's RAM when it
# runs on CPUs (14 GB of 24 measured for a 2-layer model), which several replicas, the rollout actors and training
# cannot share. Without a GPU we give it a small slice unless engine_args size the cache themselves.
CPU_CACHE_MEMORY_PERCENT = 0.05


def engine_command(cfg: PolicyConfig, model: str, host: str, port: int, *, on_gpu: bool = True) -> list[str]:
    """The command that serves ``model`` with ``cfg.engine`` on ``host:port``, with ``cfg.engine_args``."""
    args = dict(cfg.engine_args)
    if cfg.engine == "vllm":
        argv = [sys.executable, "-m", "vllm.entrypoints.cli.main", "serve", model]
    else:
        argv = [sys.executable, "-m", "transformers.cli.transformers", "serve", model, "--continuous-batching"]
        if not on_gpu and not any(str(k).startswith(("cb_max_memory", "cb_num_blocks")) for k in args):
            args["cb_max_memory_percent"] = CPU_CACHE_MEMORY_PERCENT
    argv += ["--host", host, "--port", str(port)]
    return argv + engine_flags(args)


def engine_flags(args: dict[str, Any]) -> list[str]:
    """``{max_model_len: 4096, enforce_eager: true, compile: false}`` -> ``--max-model-len 4096 --enforce-eager
    --no-compile``; a list value repeats the option; None leaves it out."""
    out: list[str] = []
    for key, value in args.items():
        flag = "--" + str(key).replace("_", "-")
        if value is None:
            continue
        if value is True:
            out.append(flag)
        elif value is False:
            out.append("--no-" + flag[2:])
        elif isinstance(value, list | tuple):
            for item in value:
                out += [flag, str(item)]
        else:
            out += [flag, json.dumps(value) if isinstance(value, dict) else str(value)]
    return out


class ModelServer:
    """A Ray actor that runs one engine server process and stops it with the actor.

    Kept thin: the process is started by the actor so that it lands on the node (and the GPUs) Ray gave
    the actor, and dies with it (``PR_SET_PDEATHSIG``), so a killed actor never leaves a server behind.
    """

    def __init__(self, cfg: PolicyConfig, model: str):
        self.cfg, self.model = cfg, model
        self.process: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="agenttune-server-", suffix=".log", delete=False)  # noqa: SIM115
        self.url: str | None = None

    def start(self) -> str:
        """Launch the server and wait until it answers; its base URL (``http://IP:PORT/v1``)."""
        host = ray.util.get_node_ip_address()
        port = _free_port(host)
        argv = engine_command(self.cfg, self.model, host, port, on_gpu=bool(ray.get_gpu_ids()))
        self.process = subprocess.Popen(
            argv, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent
        )
        url = f"http://{host}:{port}/v1"
        deadline = time.monotonic() + self.cfg.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RolloutError(
                    f"the {self.cfg.engine} server for {self.model} exited with status {self.process.returncode} "
                    f"while starting: {self.tail()}"
                )
            if _lists_models(url):
                self.url = url
                return url
            time.sleep(HEALTH_POLL_S)
        raise RolloutError(
            f"the {self.cfg.engine} server for {self.model} did not answer within {self.cfg.startup_timeout_s:g} s "
            f"(rollout.policy.startup_timeout_s): {self.tail()}"
        )

    def tail(self, lines: int = 5) -> str:
        """The last lines of the server's output, for error messages."""
        with open(self.log.name, errors="replace") as f:
            last = deque((line.rstrip() for line in f if line.strip()), maxlen=lines)
        return " | ".join(last) or "(no output)"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)


def server_resources(cfg: PolicyConfig) -> dict[str, float]:
    """Ray resources of one server: ``cpus_per_replica``, and ``gpus_per_replica`` or the engine's default
    (vLLM needs a GPU; ``transformers serve`` takes one when the cluster has any)."""
    gpus = cfg.gpus_per_replica
    if gpus is None:
        gpus = 1.0 if cfg.engine == "vllm" or ray.cluster_resources().get("GPU", 0) > 0 else 0.0
    return {"num_cpus": cfg.cpus_per_replica, "num_gpus": gpus}


@contextlib.contextmanager
def serve(cfg: PolicyConfig, model: str) -> Iterator[list[str]]:
    """Start ``cfg.replicas`` servers of ``model``, yield their base URLs, stop them when the block ends."""
    if cfg.kind != "served":
        raise PolicyConfigError(f"rollout.policy.kind: serve() starts servers for kind 'served', not {cfg.kind!r}")
    if cfg.engine == "vllm" and ray.cluster_resources().get("GPU", 0) < 1:
        raise PolicyConfigError(
            "policy.engine: vllm serves on GPUs and this Ray cluster has none; use engine: transformers on CPUs"
        )
    # A plain (one-thread) actor: its calls run on the process's main thread, which PR_SET_PDEATHSIG ties the
    # server's life to (the signal fires when the thread that started the child exits).
    actor = ray.remote(**server_resources(cfg))(ModelServer)
    servers = [actor.remote(cfg, model) for _ in range(cfg.replicas)]
    try:
        started = time.monotonic()
        try:
            endpoints = ray.get([s.start.remote() for s in servers])
        except ray.exceptions.RayTaskError as e:
            raise e.as_instanceof_cause() from None
        log.info(
            "%d %s server(s) of %s up in %.0f s: %s",
            cfg.replicas,
            cfg.engine,
            model,
            time.monotonic() - started,
            ", ".join(endpoints),
        )
        yield endpoints
    finally:
        with contextlib.suppress(ray.exceptions.RayError):
            ray.get([s.stop.remote() for s in servers], timeout=60)
        for s in servers:
            ray.kill(s)


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _lists_models(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/models", timeout=5) as response:
            return response.status == 200 and bool(json.loads(response.read()).get("data"))
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _die_with_parent() -> None:
    """In the server's process, before exec: SIGKILL it when the actor that started it dies."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def servers_for(policy: PolicyConfig) -> Iterator[list[str] | None]:
    """``serve(policy, policy.model)`` for a served policy (yields its endpoints); nothing for any other kind."""
    if policy.kind != "served":
        yield None
        return
    if not policy.model:
        raise PolicyConfigError("policy.model: a served policy needs the checkpoint to serve")
    with serve(policy, policy.model) as endpoints:
        yield endpoints
