"""The ``agenttune`` command line.

    agenttune validate cluster/configs/demo.yaml train.steps=4
    agenttune pipeline cluster/configs/demo.yaml            # what `make demo` and `ray job submit` run
    agenttune rollout|filter|mix|train|eval CONFIG [key=value ...]
    agenttune rescore CONFIG [--trajectories F]             # re-grade recorded episodes with today's envs
    agenttune filter CONFIG --trajectories <run.dir>/rollout/trajectories.rescored.jsonl
    agenttune sweep CONFIG [key=value ...] [--json]        # the eta ablation: one arm per value
    agenttune compare RUN_DIR|RUN_ID ... [--scores F.csv]  # the paper's table
    agenttune envs list
    agenttune envs check agenttune/DB-v0 --tasks 20 [--json]
    agenttune sandbox run [--timeout S] [--memory-mb M] -- CMD...

Every command that takes a config accepts ``key=value`` overrides (dotted keys,
YAML values). Errors users can fix print one clear message and exit 2.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cluster import signals
from cluster.config import PipelineConfig, dump_config, load_config
from cluster.errors import ClusterError

log = logging.getLogger("agenttune")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    previous = signals.install()
    try:
        return int(args.func(args) or 0)
    except (ClusterError, *_user_errors()) as e:
        return _fail(str(e))
    except OSError as e:
        if e.errno not in _STORAGE_ERRORS:
            raise
        where = f"{e.filename}: " if e.filename else ""
        return _fail(f"{where}{e.strerror}: free space (or fix the permissions) and rerun; finished work is kept")
    except KeyboardInterrupt:
        signame = signals.interrupted_by()
        print(
            f"agenttune: interrupted ({signame}); rerun the same command to resume: finished episodes are "
            "skipped and training continues from its last checkpoint",
            file=sys.stderr,
        )
        return 128 + (signal.SIGTERM if signame == "SIGTERM" else signal.SIGINT)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


# Errors of the storage a run writes to: said in one line with the file, not as a traceback.
_STORAGE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


def _fail(message: str) -> int:
    print(f"agenttune: error: {message}", file=sys.stderr)
    return 2


def _user_errors() -> tuple[type[Exception], ...]:
    """Errors that mean "fix your input", printed without a traceback."""
    from envs.errors import EnvsError
    from eval.errors import EvalError
    from rollouts.errors import RolloutError  # a bad policy config, a corrupt trajectory file, an unplaceable actor
    from train.errors import TrainError  # a malformed corpus, an empty mix, too few CPUs, a failed training

    return (EnvsError, EvalError, RolloutError, TrainError)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="agenttune", description="Agent tuning on a Ray cluster.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.add_argument("config", help="YAML config, e.g. cluster/configs/demo.yaml")
        sp.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. train.steps=10")
        sp.set_defaults(func=func)
        return sp

    v = with_config("validate", cmd_validate, "Check a config and print it resolved; exit 2 listing every problem.")
    v.add_argument("--quiet", action="store_true", help="print nothing when the config is valid")
    v.add_argument(
        "--no-capacity",
        action="store_true",
        help="check the config and what it names, not whether its stages fit a Ray instance (a GPU cluster's config "
        "checked on a laptop)",
    )
    for name, help in [
        ("pipeline", "Run rollout -> filter -> mix -> train -> eval under one MLflow parent run."),
        ("rollout", "Roll out episodes on a Ray actor pool; append records to <run.dir>/rollout/."),
        ("filter", "Keep the good trajectories; write <run.dir>/filter/kept.json (AgentInstruct format)."),
        ("mix", "Mix kept trajectories with general corpora (Ray Data); tokenize and mask."),
        ("train", "Fine-tune with Ray Train + DeepSpeed; export a Hugging Face checkpoint to <run.dir>/model."),
        ("eval", "Evaluate the exported model (and the base model) on the eval envs."),
        (
            "rescore",
            "Replay each recorded episode's actions in today's envs (no policy calls) and write the re-graded "
            "records beside the input as <name>.rescored.jsonl (never in place); count the rewards that went up, "
            "down or stayed, per env. Then: agenttune filter CONFIG --trajectories <that file>.",
        ),
    ]:
        sp = with_config(name, cmd_stage, help)
        sp.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")
        if name == "eval":
            sp.add_argument("--model", help="checkpoint to evaluate (default: <run.dir>/model)")
        if name in ("filter", "rescore"):
            sp.add_argument(
                "--trajectories",
                type=Path,
                help="the trajectories file to read (default: <run.dir>/rollout/trajectories.jsonl), e.g. "
                "the re-graded <run.dir>/rollout/trajectories.rescored.jsonl, or an eval's",
            )

    sw = with_config(
        "sweep",
        cmd_sweep,
        "Run the config's sweep (e.g. sweep: {mix.eta: [0.0, 0.2, 1.0]}): rollout and filter once, then mix -> "
        "train -> eval per arm, compared with the base model in the parent MLflow run. A rerun resumes.",
    )
    sw.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")
    sw.add_argument("--json", action="store_true", help="print the arms' and the base's role scores as the last line")

    envs_p = sub.add_parser("envs", help="List or check environments.", description="List or check environments.")
    envs_sub = envs_p.add_subparsers(dest="envs_command", required=True, metavar="SUBCOMMAND")
    lp = envs_sub.add_parser("list", help="Registered envs: id, role, turn cap, task counts.")
    lp.set_defaults(func=cmd_envs_list)
    cp = envs_sub.add_parser("check", help="Env checker, oracle and random agent on N seeded test tasks.")
    cp.add_argument("env", help="env id, e.g. agenttune/DB-v0")
    cp.add_argument(
        "--tasks", type=int, help="number of tasks (default: 20 generated ones, or every record of --tasks-file)"
    )
    cp.add_argument(
        "--tasks-file",
        help="load tasks from a file the env supports instead of generating them; malformed records are skipped "
        "and listed",
    )
    cp.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    cp.set_defaults(func=cmd_envs_check)

    from cluster import compare_cmd, sandbox_cmd

    sandbox_cmd.add_parser(sub)
    compare_cmd.add_parser(sub)
    return p


# ----------------------------------------------------------------------------- commands


def cmd_validate(args: argparse.Namespace) -> int:
    import os

    from cluster.checks import capacity_problems, local_resources

    cfg = load_config(args.config, args.overrides)
    if cfg.sweep:
        from cluster.sweep import sweep_problems

        if problems := sweep_problems(cfg):
            raise ClusterError(f"{args.config}: " + "; ".join(problems))
    address = cfg.ray.address or os.environ.get("RAY_ADDRESS")
    if args.no_capacity:
        note = "capacity not checked"
    elif address and address.startswith(("http://", "https://")):  # a job-submission address, not one to join
        note = "capacity is checked when the job joins the cluster"
    else:
        if address:
            resources, where = _cluster_resources(address), f"the Ray cluster at {address}"
        else:
            resources, where = local_resources(cfg), "the local Ray instance"
        gpu_config = not address and not resources.get("GPU") and capacity_problems(
            cfg, cfg.stages, {"CPU": float("inf"), "GPU": 0.0}, where
        )  # fmt: skip
        if gpu_config:  # a GPU cluster's config checked on a laptop: its capacity says nothing about this machine
            note = "capacity not checked: it needs GPUs and names no cluster; set RAY_ADDRESS to check it against one"
        elif problems := capacity_problems(cfg, cfg.stages, resources, where):
            hint = (
                "" if address else " (for a cluster's config: set RAY_ADDRESS to the cluster, or pass --no-capacity)"
            )
            raise ClusterError(f"{args.config}: " + "; ".join(problems) + hint)
        else:
            note = f"fits {where}"
    if not args.quiet:
        print(dump_config(cfg), end="")
        print(f"# {args.config}: valid ({note})", file=sys.stderr)
    return 0


def cmd_stage(args: argparse.Namespace) -> int:
    from cluster import pipeline

    cfg = load_config(args.config, args.overrides)
    progress = not args.no_progress
    if args.command == "pipeline":
        results = pipeline.run_pipeline(cfg, progress=progress)
        _print_summary(cfg, results)
        return 0
    out = pipeline.run_single_stage(
        cfg,
        args.command,
        progress=progress,
        model=getattr(args, "model", None),
        trajectories=getattr(args, "trajectories", None),
    )
    print(json.dumps(out, indent=1, default=str))
    if args.command == "rescore":
        _print_rescore(out)
    return 0


def _print_rescore(report: dict[str, Any]) -> None:
    """The rewards that changed, per env (on stderr: stdout holds the report as JSON)."""
    from rich.console import Console
    from rich.table import Table

    from rollouts.rescore import OUTCOMES

    table = Table(title="agenttune rescore: rewards by today's envs")
    table.add_column("env", no_wrap=True)
    for col in (*OUTCOMES, "mean reward", "success rate"):
        table.add_column(col, justify="right", no_wrap=True)
    for env, c in report["per_env"].items():
        reward = f"{c['mean_reward_before']:.3f} -> {c['mean_reward_after']:.3f}"
        success = f"{c['success_rate_before']:.0%} -> {c['success_rate_after']:.0%}"
        table.add_row(env, *(str(c[o]) for o in OUTCOMES), reward, success)
    Console(stderr=True, width=None if sys.stderr.isatty() else 140).print(table)
    lines = [
        f"{outcome}: {', '.join(f'{why} {n}' for why, n in sorted(r.items()))}"
        for outcome, r in report["reasons"].items()
    ]
    if report["skipped"]:
        lines.append(f"skipped records are left out of the output (the first ids: {report['skipped_ids']})")
    lines.append(f"{report['changed']} of {report['total']} rewards changed; wrote {report['output']}")
    lines.append(f"next: agenttune filter CONFIG --trajectories {report['output']}")
    print("\n".join(lines), file=sys.stderr)


def _cluster_resources(address: str) -> dict[str, float]:
    """The CPU and GPU totals of the cluster at ``address`` (joined as a driver for the question, then left)."""
    import ray

    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ClusterError(f"cannot reach the Ray cluster at {address} to check capacity: {e}") from None
    try:
        return dict(ray.cluster_resources())
    finally:
        ray.shutdown()


def cmd_sweep(args: argparse.Namespace) -> int:
    from cluster.sweep import run_sweep

    cfg = load_config(args.config, args.overrides)
    results = run_sweep(cfg, progress=not args.no_progress)
    _print_sweep(cfg, results)
    if args.json:
        print(json.dumps(results["comparison"]["summary"]))
    if results["failed"]:
        print(f"agenttune: {len(results['failed'])} arm(s) failed: {', '.join(results['failed'])}", file=sys.stderr)
        return 1
    return 0


def _print_sweep(cfg: PipelineConfig, results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"agenttune sweep: {cfg.run.name}")
    for col in ("arm", "held-in", "held-out", "general", "general loss", "time"):
        table.add_column(col, justify="left" if col == "arm" else "right")
    summary = results["comparison"]["summary"]
    rows = {**summary["arms"], "base": summary["base"]}
    for label, row in rows.items():
        cells = [f"{v:.3f}" if (v := row[k]) is not None else "-" for k in ("held_in", "held_out", "general")]
        loss = f"{row['general_loss']:.3f}" if row["general_loss"] is not None else "-"
        wall = results["arms"].get(label, {}).get("wall_s")
        table.add_row(label, *cells, loss, f"{wall:.0f}s" if wall else "")
    for label in results["failed"]:
        table.add_row(label, "failed", "", "", "", "")
    Console().print(table)
    print(f"run dir: {results['run_dir']}   MLflow: {cfg.tracking_uri()}   parent run: {results['mlflow_run_id']}")


def cmd_envs_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    import envs

    table = Table(title="agenttune environments")
    for col in ("id", "role", "max turns", "train tasks", "test tasks"):
        table.add_column(col, no_wrap=True)
    for spec in envs.list_specs():
        counts = spec.task_counts
        table.add_row(
            spec.id,
            spec.role,
            str(spec.max_turns),
            _count(counts.get("train")),
            _count(counts.get("test")),
        )
    Console().print(table)
    return 0


def cmd_envs_check(args: argparse.Namespace) -> int:
    from rollouts.envcheck import check_env_quality

    report = check_env_quality(args.env, num_tasks=args.tasks, tasks_file=args.tasks_file)
    if not args.json:
        listed = ("bad_tasks", "not_runnable", "oracle_failures")  # one line each, below
        for k, v in report.items():
            if k not in listed:
                print(f"{k:>24}: {v}")
        for bad in report["bad_tasks"]:
            where = f"line {bad['line']}" if "line" in bad else f"record {bad['record']}"
            print(f"{'skipped':>24}: {bad['file']} {where}: {bad['reason']}")
        for task in report["not_runnable"]:
            print(f"{'not runnable':>24}: {task['task_id']}: {task['reason']}")
        for task in report["oracle_failures"]:
            outcome = f"{task['status']}, reward {task['reward']}"
            print(f"{'oracle failed':>24}: {task['task_id']} ({outcome}): {task['why']}")
    else:
        print(json.dumps(report))
    # Bad records are the file's fault, reported above; the check judges the env on the tasks that loaded.
    return 0 if report["checker_passed"] else 1


def _count(n: int | None) -> str:
    return "unbounded" if n is None else str(n)


def _print_summary(cfg: PipelineConfig, results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from eval.scoring import ROLES

    table = Table(title=f"agenttune pipeline: {cfg.run.name}")
    table.add_column("stage")
    table.add_column("result")
    table.add_column("time")
    t = results.get("timings_s", {})
    if "rollout" in results:
        r = results["rollout"]
        table.add_row(
            "rollout",
            f"{r['finished']} episodes, success {r['success_rate']:.0%}, {r['episodes_per_s']:.1f} ep/s",
            f"{t.get('rollout', 0):.0f}s",
        )
    if "filter" in results:
        f = results["filter"]
        dropped = ", ".join(f"{k} {v}" for k, v in f["dropped"].items() if v) or "none"
        table.add_row("filter", f"kept {f['kept']}/{f['total']} (dropped: {dropped})", f"{t.get('filter', 0):.0f}s")
    if "mix" in results:
        m = results["mix"]
        table.add_row(
            "mix", f"{sum(m['rows'].values())} rows, agent share {m['achieved_eta']:.3f}", f"{t.get('mix', 0):.0f}s"
        )
    if "train" in results:
        fm = results["train"]["final_metrics"]
        table.add_row(
            "train",
            f"loss {fm.get('train/loss', float('nan')):.3f}, {fm.get('train/tokens_per_s', 0):.0f} tokens/s",
            f"{t.get('train', 0):.0f}s",
        )
    for label, model in results.get("eval", {}).items():
        roles = model["role_scores"]
        shown = ", ".join(f"{role.replace('_', '-')} {roles[role]:.3f}" for role in ROLES if role in roles)
        if (loss := model["metrics"].get("eval/general/heldout_loss")) is not None:
            shown += f" (held-out loss {loss:.2f})"
        tasks = "; ".join(
            f"{task.rsplit('/', 1)[-1]} {score:.2f}"
            for role in ROLES
            for task, score in model["tasks"].get(role, {}).items()
        )
        table.add_row(f"eval ({label})", f"{shown}\n{tasks}", f"{t.get('eval', 0):.0f}s" if label == "tuned" else "")
    Console().print(table)
    print(f"run dir: {results['run_dir']}   MLflow: {cfg.tracking_uri()}   parent run: {results['mlflow_run_id']}")


if __name__ == "__main__":
    sys.exit(main())
