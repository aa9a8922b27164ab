"""``agenttune compare [RUN_DIR | MLFLOW_RUN_ID ...] [--scores FILE.csv ...] [--baselines NAME,...] [--json]``

Prints the AgentTuning paper's results table for any runs and published numbers, and logs it to MLflow as a run
``compare`` (the table as ``comparison.csv``, a bar chart per role, the overall scores as metrics, tags that link
the compared runs). The table and its numbers are built by ``eval.compare``; this module only reads the command
line.

    agenttune compare runs/demo runs/eta05 --scores paper.csv --baselines demo/base,gpt-4
    agenttune compare 3f2a...e9 --tracking-uri http://mlflow:5000 --json | tail -n 1 | jq .overall
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from cluster.errors import ClusterError

_RUN_ID = re.compile(r"[0-9a-f]{32}")
DEFAULT_EXPERIMENT = "agenttune-compare"

DESCRIPTION = """\
Print the AgentTuning paper's results table for any set of models, and log it to MLflow.

Each input gives one or more models:
  RUN_DIR        a run's directory (run.dir): every model its eval stage scored, <RUN_DIR>/eval/<label>/scores.json;
                 named <run>/<label>, e.g. demo/tuned and demo/base
  MLFLOW_RUN_ID  an MLflow run (32 hex characters) in the --tracking-uri store: an eval-<label> run, or a run
                 above such runs (the eval stage's run, the pipeline's parent run); also named <run>/<label>
  --scores CSV   numbers published elsewhere (e.g. GPT-4 in the paper): columns model,role,task,score, roles
                 held_in, held_out, general; named by the model column. A comparison.csv reads back as one.

Rows: the tasks of each role, the role's mean task score, then the overall score per role: each task's score
divided by the baselines' mean score on that task, averaged over the role's tasks (1.0 = the baselines' level).
Tasks no baseline has, or whose baseline mean is 0, are left out of every model's overall score for that role.

Logged (unless --no-mlflow) as a run "compare" in --experiment: comparison.csv (model,role,task,score, with rows
for task "mean" and "overall"), comparison.json, charts/<role>.png and charts/overall.png, metrics
compare/<model>/<role>, and tags agenttune.compared.<i> (the eval run's id, the run dir or the CSV file)."""

EPILOG = """\
examples:
  agenttune compare runs/demo --scores paper.csv --baselines demo/base,gpt-4
  agenttune compare 0123456789abcdef0123456789abcdef --tracking-uri sqlite:///runs/demo/mlflow.db --no-mlflow
  agenttune compare runs/demo runs/eta05 --json | tail -n 1      # {"overall": {...}, "tasks": {...}}"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    help = "Print and log the paper's results table (normalised overall scores) for runs and published numbers."
    p = subparsers.add_parser(
        "compare",
        help=help,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "inputs",
        nargs="*",
        metavar="RUN_DIR|MLFLOW_RUN_ID",
        help="an existing directory is a run dir; anything else must be an MLflow run id (32 hex characters)",
    )
    p.add_argument(
        "--scores",
        action="append",
        metavar="FILE.csv",
        help="a CSV of published scores (columns model,role,task,score); repeat for several files",
    )
    p.add_argument(
        "--baselines",
        metavar="NAME,...",
        help="models whose mean score on each task the overall score divides by, as named in the table's columns "
        "(default: every compared model)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print, as the last line, {"overall": {MODEL: {ROLE: x}}, "tasks": {MODEL: {TASK: score}}} (a role '
        "without a score is left out)",
    )
    p.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="MLflow store to read run ids from and log the comparison to (default: $MLFLOW_TRACKING_URI, else "
        "sqlite:///<first RUN_DIR>/mlflow.db)",
    )
    p.add_argument(
        "--experiment",
        default=DEFAULT_EXPERIMENT,
        metavar="NAME",
        help=f"MLflow experiment of the comparison run (default {DEFAULT_EXPERIMENT})",
    )
    p.add_argument("--no-mlflow", action="store_true", help="print the table only; log nothing")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from eval import compare

    run_dirs, run_ids = classify(args.inputs)
    csv_files = args.scores or []
    if not args.inputs and not csv_files:
        raise ClusterError("compare: nothing to compare; give run dirs, MLflow run ids or --scores FILE.csv")
    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri and run_dirs:
        uri = f"sqlite:///{run_dirs[0].resolve()}/mlflow.db"
    if not uri and (run_ids or not args.no_mlflow):
        what = "MLflow run ids are read from" if run_ids else "the comparison is logged to"
        raise ClusterError(
            f"compare: no MLflow store, which {what}; pass --tracking-uri URI or set MLFLOW_TRACKING_URI"
            + ("" if run_ids else ", or pass --no-mlflow")
        )
    baselines = None
    if args.baselines is not None:
        baselines = [b.strip() for b in args.baselines.split(",") if b.strip()]

    models: list[compare.Compared] = []
    for value in args.inputs:  # in the order given: the table's columns follow it
        if value in run_ids:
            models += compare.load_mlflow_run(value.lower(), uri)
        else:
            models += compare.load_run_dir(value)
    for file in csv_files:
        models += compare.load_scores_csv(file)
    comparison = compare.compare(models, baselines)

    console = Console() if sys.stdout.isatty() else Console(width=200)  # logs and pipes: no wrapped cells
    console.print(compare.render_table(comparison))
    if not args.no_mlflow:
        inputs = [*args.inputs, *(f"--scores {f}" for f in csv_files)]
        run_id = compare.log_comparison(comparison, uri, args.experiment, inputs=inputs)
        print(f"MLflow: run {run_id} (compare) in experiment {args.experiment} at {uri}")
    if args.json:
        print(json.dumps(comparison.summary()))
    return 0


def classify(inputs: list[str]) -> tuple[list[Path], set[str]]:
    """The run dirs (existing directories) and MLflow run ids (32 hex characters) among ``inputs``."""
    run_dirs, run_ids = [], set()
    for value in inputs:
        path = Path(value)
        if path.is_dir():
            run_dirs.append(path)
        elif _RUN_ID.fullmatch(value.lower()):
            run_ids.add(value)
        elif path.is_file():
            raise ClusterError(f"compare: {value} is a file, not a run dir; pass a CSV of scores as --scores {value}")
        else:
            raise ClusterError(
                f"compare: {value!r} is neither a directory nor an MLflow run id (32 hex characters); pass a run's "
                "run.dir or the id of its eval or pipeline run"
            )
    return run_dirs, run_ids
