"""Served policies: the engines' command lines, episodes sticky to one replica and spread by load, and real
``transformers serve`` replicas started as Ray actors, used by the rollout pool, and stopped afterwards."""

from __future__ import annotations

import asyncio
import socket
import urllib.parse

import pytest

import envs
from envs.db.prompts import OPENING_REPLIES
from envs.textenv import after_opening
from rollouts.config import PolicyConfig, PoolConfig
from rollouts.episode import arun_episode
from rollouts.policies import make_policy
from rollouts.pool import make_jobs, run_rollouts
from rollouts.records import read_jsonl
from rollouts.serving import CPU_CACHE_MEMORY_PERCENT, engine_command, engine_flags, serve
from tests.openai_server import ScriptedChatServer


def test_engine_args_become_the_engines_own_flags():
    args = {"max_model_len": 4096, "enforce_eager": True, "compile": False, "skip": None, "lora_modules": ["a", "b"]}
    assert engine_flags(args) == [
        "--max-model-len",
        "4096",
        "--enforce-eager",
        "--no-compile",
        "--lora-modules",
        "a",
        "--lora-modules",
        "b",
    ]
    vllm = PolicyConfig(kind="served", engine="vllm", engine_args={"max_model_len": 4096})
    argv = engine_command(vllm, "/ckpt", "10.0.0.5", 8001)
    assert argv[1:] == [
        "-m",
        "vllm.entrypoints.cli.main",
        "serve",
        "/ckpt",
        "--host",
        "10.0.0.5",
        "--port",
        "8001",
    ] + [
        "--max-model-len",
        "4096",
    ]
    cpu = engine_command(PolicyConfig(kind="served"), "/ckpt", "h", 1, on_gpu=False)
    assert cpu[3:6] == ["serve", "/ckpt", "--continuous-batching"]
    assert cpu[-2:] == ["--cb-max-memory-percent", str(CPU_CACHE_MEMORY_PERCENT)]  # not 60% of the host's RAM
    sized = PolicyConfig(kind="served", engine_args={"cb_num_blocks": 64})
    assert "--cb-max-memory-percent" not in engine_command(sized, "/ckpt", "h", 1, on_gpu=False)


def two_turns(request: dict) -> str:
    turn = sum(m.get("role") == "assistant" for m in after_opening(request["messages"], OPENING_REPLIES))
    return (
        "Thought: look.\nAction: Operation\n```sql\nSELECT 1\n```"
        if turn == 0
        else 'Action: Answer\nFinal Answer: ["1"]'
    )


@pytest.mark.integration
def test_an_episode_stays_on_one_replica_and_episodes_spread_by_load():
    tasks = envs.generate_tasks("agenttune/DB-v0", "test", 6)
    with (
        ScriptedChatServer(responder=two_turns, delay_s=0.2) as a,
        ScriptedChatServer(responder=two_turns, delay_s=0.2) as b,
    ):
        cfg = PolicyConfig(kind="served", model="scripted-model", max_retries=0)
        policy = make_policy(cfg, [a.base_url, b.base_url])

        async def play_all() -> list[dict]:
            async def one(task) -> dict:
                with envs.make_env("agenttune/DB-v0") as env:
                    return await arun_episode(env, policy, task)

            return await asyncio.gather(*(one(t) for t in tasks))

        records = asyncio.run(play_all())
        assert [r["turns"] for r in records] == [2] * 6 and policy.in_flight == [0, 0]
        # Every episode's task turn (after the instruction and the "Ok.") names its task; each replica saw
        # whole episodes, three each.
        by_server = {}
        for name, server in (("a", a), ("b", b)):
            firsts = [r.body["messages"][2]["content"] for r in server.chat_requests]
            by_server[name] = sorted(firsts)
        assert len(by_server["a"]) == len(by_server["b"]) == 6  # 3 episodes x 2 turns each
        for firsts in by_server.values():
            assert all(firsts.count(f) == 2 for f in firsts)  # both turns of an episode on the same replica
    assert records[0]["policy"] == {"kind": "served", "model": "scripted-model", "engine": "transformers"}


def port_open(url: str) -> bool:
    parsed = urllib.parse.urlparse(url)
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((parsed.hostname, parsed.port)) == 0


@pytest.mark.integration
@pytest.mark.slow
def test_transformers_serve_replicas_play_episodes_and_are_stopped(ray_2_cpus, tiny_checkpoint, tmp_path):
    cfg = PolicyConfig(kind="served", model=str(tiny_checkpoint), max_tokens=8, replicas=1, cpus_per_replica=0.5)
    jobs = make_jobs(envs.generate_tasks("agenttune/DB-v0", "test", 3), max_turns=2)
    with serve(cfg, str(tiny_checkpoint)) as endpoints:
        assert len(endpoints) == 1 and port_open(endpoints[0])
        pool = PoolConfig(min_actors=1, max_actors=1, concurrency=3, actor_cpus=0.5)
        s = run_rollouts(
            jobs, policy=cfg, pool=pool, endpoints=endpoints, out_path=tmp_path / "t.jsonl", progress=False
        )
    assert not port_open(endpoints[0])  # the server is gone with its block
    records = list(read_jsonl(tmp_path / "t.jsonl"))
    assert s.finished == 3 and {r["status"] for r in records} <= {
        "task_limit_reached",
        "agent_invalid_action",
        "completed",
    }
    assert all(r["error"] is None and r["turns"] >= 1 for r in records)  # the replica answered every turn

    with pytest.raises(RuntimeError, match="boom"), serve(cfg, str(tiny_checkpoint)) as endpoints:
        raise RuntimeError("boom")
    assert not port_open(endpoints[0])  # stopped on failure too


@pytest.mark.gpu
@pytest.mark.integration
@pytest.mark.slow
def test_vllm_replicas_serve_a_checkpoint_on_gpus(tmp_path, tiny_checkpoint):
    """vLLM (`pip install agenttune[vllm]`) serves a checkpoint on a GPU; episodes go through it as on CPU."""
    pytest.importorskip("vllm", reason="vLLM is not installed: pip install 'agenttune[vllm]'")
    import ray

    ray.init(address="local", include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        cfg = PolicyConfig(
            kind="served", engine="vllm", model=str(tiny_checkpoint), max_tokens=8, replicas=1,
            engine_args={"max_model_len": 2048, "gpu_memory_utilization": 0.3, "enforce_eager": True},
        )  # fmt: skip
        jobs = make_jobs(envs.generate_tasks("agenttune/DB-v0", "test", 4), max_turns=2)
        with serve(cfg, str(tiny_checkpoint)) as endpoints:
            pool = PoolConfig(min_actors=1, max_actors=1, concurrency=4)
            s = run_rollouts(jobs, policy=cfg, pool=pool, endpoints=endpoints, out_path=tmp_path / "t.jsonl")
        assert s.finished == 4 and all(r["error"] is None for r in read_jsonl(tmp_path / "t.jsonl"))
        assert not port_open(endpoints[0])
    finally:
        ray.shutdown()
