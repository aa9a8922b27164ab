"""The bad inputs users give each command, and the interruptions runs meet, as a battery.

Every case ends the same way: one line on stderr that names the file, line or config key and what to do,
exit status 2 (130/143 for Ctrl-C/SIGTERM), nothing half-written, and no MLflow run left RUNNING. The
interrupted cases then rerun the command and check that it resumes: every (task, sample) exactly once,
and training from its last checkpoint. The README's "When things go wrong" table lists these cases.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cluster.cli import main
from tests.openai_server import ScriptedChatServer

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEMO = str(REPO / "cluster" / "configs" / "demo.yaml")
FAULTY = "agenttune-test/Faulty-v0"  # tests/rollouts/fault_envs.py, registered through rollout.env_modules
SMALL = [
    "rollout.envs=[{id: agenttune/DB-v0, num_tasks: 6}]",
    "eval.envs=[{id: agenttune/DB-v0, split: test, num_tasks: 2, max_turns: 2}]",
    "train.seq_len=1024",
    "train.global_batch_size=4",
    "train.micro_batch_size=1",
    "mix.general=[{path: generated, num_records: 40}]",
    "ray.num_cpus=4",
    "ray.include_dashboard=false",  # its processes cost seconds of CPU a command here
]


def agenttune(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """The CLI in a process of its own, with default signal dispositions whatever this process ignores."""
    flags = [] if args[0] == "validate" else ["--no-progress"]
    return subprocess.run(
        [str(BIN / "agenttune"), *args, *flags],
        cwd=REPO,
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_default_signals,
    )


def start_agenttune(*args: str, log: Path) -> subprocess.Popen:
    out = log.open("w")
    return subprocess.Popen(
        [str(BIN / "agenttune"), *args, "--no-progress"],
        cwd=REPO,
        env=_env(None),
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_default_signals,
    )


def _default_signals() -> None:
    # `make test` may run with SIGINT/SIGQUIT ignored (started from a script); the CLI under test must not be.
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "MLFLOW_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO)  # tests.rollouts.fault_envs_plugin, for rollout.env_modules
    return env | (extra or {})


def one_error_line(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """The single ``agenttune: error:`` line of a failed command, holding every needle."""
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("agenttune: error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def run_statuses(run_dir: Path, experiment: str = "agenttune-demo") -> dict[str, str]:
    """Run name -> status of every MLflow run of the run dir's store."""
    if not (run_dir / "mlflow.db").exists():
        return {}
    client = MlflowClient(f"sqlite:///{run_dir}/mlflow.db")
    exp = client.get_experiment_by_name(experiment)
    return {r.info.run_name: r.info.status for r in client.search_runs([exp.experiment_id])} if exp else {}


def nothing_running(run_dir: Path) -> None:
    assert "RUNNING" not in run_statuses(run_dir).values(), run_statuses(run_dir)


def ids_exactly_once(path: Path, expected: int) -> None:
    ids = [json.loads(line)["id"] for line in path.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == expected


# ----------------------------------------------------------------------------- config: in-process, no Ray


def test_malformed_yaml(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run:\n  name: x\n   dir: y\n")
    assert main(["validate", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"agenttune: error: {bad}: not valid YAML at line 3, column 7: mapping values are not allowed here"
    )


def test_unknown_keys_and_bad_types_are_listed_together(capsys):
    assert main(["validate", DEMO, "train.stepz=3", "rollout.max_actors=zero"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"agenttune: error: {DEMO}: 2 problems in the config:")
    assert "train.stepz: unknown key (from the command line); did you mean 'train.steps'?" in err
    assert "rollout.max_actors: Input should be a valid integer" in err


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        (
            "rollout.envs.0.id=agenttune/DBB-v0",
            "rollout.envs.0.id: unknown environment 'agenttune/DBB-v0'. Did you mean",
        ),
        ("rollout.envs.0.tasks_file=missing.jsonl", "rollout.envs.0.tasks_file: no such file: missing.jsonl"),
        ("mix.general.0.path=missing.json", "mix.general.0.path: no such file: missing.json"),
        ("mix.general.0.path=hf://not a name", "mix.general.0.path: 'hf://not a name' is not a dataset name"),
        ("rollout.env_modules=[no_such_module]", "rollout.env_modules.0: cannot import 'no_such_module'"),
    ],
)
def test_what_the_config_names_must_exist(override, needle, capsys, tmp_path):
    assert main(["validate", DEMO, override, f"run.dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"agenttune: error: {DEMO}: {needle}") and err.endswith("(from the command line)")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()  # nothing was started, nothing written


def test_missing_config_file(capsys, tmp_path):
    assert main(["rollout", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"agenttune: error: {tmp_path / 'nope.yaml'}: config file not found: {tmp_path / 'nope.yaml'} "
        "(shipped configs live in cluster/configs/)"
    )


def test_workers_that_do_not_fit_the_local_instance(capsys):
    assert main(["validate", DEMO, "ray.num_cpus=2", "train.num_workers=2", "train.global_batch_size=8"]) == 2
    err = capsys.readouterr().err.strip()
    assert "train: 2 workers x 1 CPUs plus one for Ray Data need 3 CPUs, and the local Ray instance has 2" in err
    assert err.endswith("set RAY_ADDRESS to the cluster, or pass --no-capacity)")


# ----------------------------------------------------------------------------- stages: a process each


@pytest.fixture(scope="module")
def rolled(tmp_path_factory) -> Path:
    """A run dir that has been rolled out, filtered (6 DB episodes, all kept) and mixed."""
    run_dir = tmp_path_factory.mktemp("rolled") / "run"
    proc = agenttune("pipeline", DEMO, f"run.dir={run_dir}", *SMALL, "stages=[rollout, filter, mix]")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir


def copy_run(src: Path, dst: Path, *, mixed: bool = False) -> Path:
    """A copy of the ``rolled`` run dir without its MLflow store, and without its mix unless ``mixed``."""
    skip = ["mlflow.db", "mlartifacts"] + ([] if mixed else ["mix", "mix.json"])
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*skip))
    return dst


@pytest.mark.integration
def test_a_corpus_with_a_malformed_line_in_the_middle(rolled, tmp_path):
    run_dir = copy_run(rolled, tmp_path / "run")
    corpus = tmp_path / "general.jsonl"
    good = json.dumps({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]})
    corpus.write_text(f"{good}\n{good}\n{{not json\n{good}\n")
    proc = agenttune("mix", DEMO, f"run.dir={run_dir}", *SMALL, f"mix.general=[{{path: {corpus}}}]")
    one_error_line(proc, f"{corpus}, line 3: invalid JSON", "mix.on_bad_record=skip")
    assert not (run_dir / "mix").exists()
    nothing_running(run_dir)


@pytest.mark.integration
def test_an_empty_corpus(rolled, tmp_path):
    run_dir = copy_run(rolled, tmp_path / "run")
    corpus = tmp_path / "empty.json"
    corpus.write_text("[]")
    proc = agenttune("mix", DEMO, f"run.dir={run_dir}", *SMALL, f"mix.general=[{{path: {corpus}}}]")
    one_error_line(proc, "mix.general.0.path:", str(corpus), "holds no usable records")
    assert not (run_dir / "mix").exists()
    nothing_running(run_dir)


@pytest.mark.integration
def test_every_episode_filtered_out_leaves_nothing_to_mix(rolled, tmp_path):
    run_dir = copy_run(rolled, tmp_path / "run")
    proc = agenttune("pipeline", DEMO, f"run.dir={run_dir}", *SMALL, "stages=[filter, mix]", "filter.min_reward=2")
    one_error_line(proc, "nothing to mix:", "kept.json holds no kept trajectories", "filter.min_reward")
    assert json.loads((run_dir / "reports" / "filter.json").read_text())["dropped"]["reward_threshold"] == 6
    assert not (run_dir / "mix").exists()
    assert run_statuses(run_dir) == {"demo:pipeline": "FAILED", "filter": "FINISHED", "mix": "FAILED"}


@pytest.mark.integration
def test_a_corrupt_line_in_the_middle_of_the_trajectories(rolled, tmp_path):
    run_dir = copy_run(rolled, tmp_path / "run")
    path = run_dir / "rollout" / "trajectories.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:2], '{"id": "cut', *lines[2:]]) + "\n")
    before = path.read_text()
    for stage in ("rollout", "filter"):
        proc = agenttune(stage, DEMO, f"run.dir={run_dir}", *SMALL)
        one_error_line(proc, f"{path}:3: not a JSON record", "fix or delete that line")
    assert path.read_text() == before
    nothing_running(run_dir)


@pytest.mark.integration
def test_an_unreachable_endpoint_fails_once_before_any_episode(tmp_path):
    with ScriptedChatServer() as server:
        url = server.base_url
    run_dir = tmp_path / "run"  # the server is gone: its port refuses connections
    policy = f"rollout.policy={{kind: openai, model: scripted-model, base_url: '{url}', max_retries: 1}}"
    proc = agenttune("rollout", DEMO, f"run.dir={run_dir}", *SMALL, policy)
    one_error_line(proc, f"gave up on {url}", "after 2 attempts", "connection error")
    assert not (run_dir / "rollout" / "trajectories.jsonl").exists()
    assert run_statuses(run_dir) == {}  # checked before Ray or any run started


@pytest.mark.integration
def test_a_wrong_api_key_fails_once_and_is_never_shown(tmp_path):
    run_dir = tmp_path / "run"
    with ScriptedChatServer(api_key="sk-right-key-123456") as server:
        policy = (
            f"rollout.policy={{kind: openai, model: scripted-model, base_url: '{server.base_url}', "
            "api_key_env: BATTERY_KEY}"
        )
        proc = agenttune("rollout", DEMO, f"run.dir={run_dir}", *SMALL, policy, env={"BATTERY_KEY": "sk-wrong-987654"})
        assert not server.chat_requests  # refused at the model list: no episode spent a request
    one_error_line(proc, "HTTP 401", "check that BATTERY_KEY holds a valid key")
    assert "sk-wrong-987654" not in proc.stdout + proc.stderr
    assert not (run_dir / "rollout" / "trajectories.jsonl").exists()
    nothing_running(run_dir)


@pytest.mark.integration
def test_a_run_dir_that_is_not_writable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc = agenttune("rollout", DEMO, f"run.dir={blocker / 'run'}", *SMALL)
    one_error_line(proc, f"run.dir: cannot write to {blocker / 'run'}", "point run.dir at a writable directory")


def in_mount_namespace(mount: str) -> list[str]:
    """``unshare`` into a user and mount namespace of our own that mounts ``mount`` first (no root needed)."""
    if shutil.which("unshare") is None:
        pytest.skip(reason="needs util-linux's unshare to mount a small tmpfs without touching the host")
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode:
        pytest.skip(reason="user namespaces are disabled on this host; cannot mount a small tmpfs without root")
    return ["unshare", "-rm", "sh", "-c", f'{mount} && exec "$@"', "sh"]


@pytest.mark.integration
def test_a_disk_that_fills_during_the_rollout(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "rollout").mkdir(parents=True)
    mount = f"mount -t tmpfs -o size=48k tmpfs {run_dir / 'rollout'}"
    cmd = [*in_mount_namespace(mount), str(BIN / "agenttune"), "rollout", DEMO, f"run.dir={run_dir}", *SMALL]
    cmd += ["rollout.envs=[{id: agenttune/DB-v0, num_tasks: 400}]", "--no-progress"]
    proc = subprocess.run(cmd, cwd=REPO, env=_env(None), capture_output=True, text=True, timeout=600)
    one_error_line(proc, f"{run_dir / 'rollout' / 'trajectories.jsonl'}: No space left on device", "rerun")
    assert run_statuses(run_dir) == {"demo:rollout": "FAILED"}


# ----------------------------------------------------------------------------- interrupted, then resumed


def wait_for(predicate, proc: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"the command ended before the signal (rc {proc.returncode}):\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def lines_in(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_rollout_interrupted_mid_way_resumes_exactly_once(tmp_path, sig):
    run_dir = tmp_path / "run"
    args = [
        "rollout",
        DEMO,
        f"run.dir={run_dir}",
        *SMALL,
        "rollout.env_modules=[tests.rollouts.fault_envs_plugin]",
        f"rollout.envs=[{{id: {FAULTY}, num_tasks: 120, env_kwargs: {{step_delay_s: 0.2}}}}]",
        "rollout.concurrency=4",
    ]
    trajectories = run_dir / "rollout" / "trajectories.jsonl"
    proc = start_agenttune(*args, log=tmp_path / "first.log")
    wait_for(lambda: lines_in(trajectories) >= 5, proc, tmp_path / "first.log")
    proc.send_signal(sig)
    assert proc.wait(timeout=120) == 128 + sig, (tmp_path / "first.log").read_text()[-3000:]
    assert "interrupted" in (tmp_path / "first.log").read_text()
    assert run_statuses(run_dir) == {"demo:rollout": "KILLED"}
    done = lines_in(trajectories)
    assert 5 <= done < 120

    again = agenttune(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    ids_exactly_once(trajectories, 120)
    assert json.loads((run_dir / "reports" / "rollout.json").read_text())["skipped_existing"] >= done


@pytest.mark.integration
@pytest.mark.slow
def test_training_interrupted_mid_way_continues_from_its_last_checkpoint(rolled, tmp_path):
    # Ctrl-C: on the main thread Ray Train would catch it and exit 0; SIGTERM takes the rollout's path above.
    sig = signal.SIGINT
    run_dir = copy_run(rolled, tmp_path / "run", mixed=True)
    args = ["train", DEMO, f"run.dir={run_dir}", *SMALL, "train.steps=6", "train.checkpoint_every=2"]
    # Ray Train lists a checkpoint in this snapshot once it is complete and registered: what a rerun resumes from.
    snapshot = run_dir / "train" / "demo" / "checkpoint_manager_snapshot.json"
    train = start_agenttune(*args, log=tmp_path / "first.log")
    wait_for(snapshot.exists, train, tmp_path / "first.log")
    train.send_signal(sig)
    assert train.wait(timeout=120) == 128 + sig, (tmp_path / "first.log").read_text()[-3000:]
    assert not (run_dir / "model").exists()
    assert run_statuses(run_dir)["demo:train"] == "KILLED"

    again = agenttune(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{run_dir}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("agenttune-demo").experiment_id])
    finished = next(r for r in runs if r.info.status == "FINISHED" and r.info.run_name == "demo:train")
    steps = [m.step for m in client.get_metric_history(finished.info.run_id, "train/loss")]
    assert steps and min(steps) > 2 and max(steps) == 6  # continued after a checkpoint, not from step 1
    assert (run_dir / "model" / "model.safetensors").exists()


def test_battery_rows_are_in_the_readme():
    readme = (REPO / "README.md").read_text()
    assert "## When things go wrong" in readme
    section = readme.split("## When things go wrong", 1)[1].split("\n## ", 1)[0]
    for case in ("malformed YAML", "not writable", "fills", "SIGTERM", "corrupt line", "401", "bubblewrap"):
        assert case in section, case
