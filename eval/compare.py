"""The AgentTuning paper's results table for any set of models (what ``agenttune compare`` prints and logs).

    models = load_run_dir("runs/demo") + load_mlflow_run(run_id, "sqlite:///runs/demo/mlflow.db")
    comparison = compare(models + load_scores_csv("paper.csv"), baselines=["demo/base", "gpt-4"])
    Console().print(render_table(comparison)); log_comparison(comparison, uri, "agenttune-compare")

A model's scores (``eval.scoring.ModelScores``) come from a run dir (every ``<dir>/eval/<label>/scores.json`` the
eval stage wrote), from an MLflow run (an ``eval-<label>`` run tagged ``agenttune.model``, or any run above such
runs, e.g. the pipeline's parent run), or from a CSV of numbers published elsewhere (columns
``model,role,task,score``). Its name in the table is ``<run>/<label>`` (``demo/tuned``) for runs, the CSV's
``model`` as is for published numbers.

Raw scores of different tasks are not comparable (a 30% success rate can be good on one task and poor on
another), so the paper's overall score per role first divides each task's score by the baselines' mean on that
task (``normalised_overall``): 1.0 is "as good as the baselines on average", whatever the task's scale.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.charts import bar_chart
from eval.errors import EvalError
from eval.scoring import ROLES, SCORES_FILE, ModelScores

MODEL_TAG = "agenttune.model"  # on each eval-<label> run: the label
CSV_COLUMNS = ("model", "role", "task", "score")
MEAN, OVERALL = "mean", "overall"  # comparison.csv's derived rows; skipped when a CSV is read, so it reads back
COMPARED_TAG = "agenttune.compared"
_METRIC_UNSAFE = re.compile(r"[^\w.\-/]")  # MLflow takes a few more characters; these are safe everywhere


class CompareError(EvalError):
    """An input of a comparison is missing or malformed, or two inputs give the same model."""


@dataclass
class Compared:
    """One model in a comparison: its name (a column of the table), its scores and where they came from."""

    name: str
    scores: ModelScores
    source: str  # for messages: "run dir /runs/demo (eval/tuned/scores.json)", "MLflow run <id> (eval-tuned)"
    link: str  # what the comparison's MLflow run is tagged with: the eval run's id, the run dir, the CSV file


# ----------------------------------------------------------------------------- loading


def load_run_dir(path: str | Path) -> list[Compared]:
    """Every model the eval stage scored in run dir ``path`` (``<path>/eval/<label>/scores.json``), by label."""
    root = Path(path).resolve()
    files = sorted(root.glob(f"eval/*/{SCORES_FILE}"))
    if not files:
        raise CompareError(
            f"{root}: no eval/<label>/{SCORES_FILE} in this run dir; evaluate it first "
            f"(`agenttune eval CONFIG run.dir={root}`) or pass the run.dir of a run that was evaluated"
        )
    out = []
    for file in files:
        scores = _parse_scores(file.read_text(), str(file))
        label = scores.model or file.parent.name
        source = f"run dir {root} (eval/{file.parent.name}/{SCORES_FILE})"
        out.append(Compared(f"{scores.run or root.name}/{label}", scores, source, str(root)))
    return out


def load_mlflow_run(run_id: str, tracking_uri: str) -> list[Compared]:
    """The models of MLflow run ``run_id``: the run itself if it is tagged ``agenttune.model`` (an ``eval-<label>``
    run), else every run nested below it (children, their children, ...) that is; each one's ``scores.json``.

    Nested runs are looked for in the run's own experiment (MLflow keeps a nested run in its parent's). A model
    whose ``scores.json`` has no ``run`` is named after the first 8 characters of its run id.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    try:
        root = client.get_run(run_id)
    except MlflowException as e:
        raise CompareError(
            f"MLflow run {run_id}: not found in {tracking_uri} ({_first_line(e)}); pass the store that holds it "
            "(--tracking-uri) or a run dir"
        ) from None
    runs = [root] if MODEL_TAG in root.data.tags else _tagged_descendants(client, root)
    if not runs:
        raise CompareError(
            f"MLflow run {run_id} ({root.info.run_name}): neither it nor any run nested below it is tagged "
            f"{MODEL_TAG}; pass an eval-<label> run, or the eval or pipeline run above it"
        )
    out = []
    for run in sorted(runs, key=lambda r: r.data.tags[MODEL_TAG]):
        scores = _download_scores(client, run)
        name = f"{scores.run or run.info.run_id[:8]}/{run.data.tags[MODEL_TAG]}"
        out.append(Compared(name, scores, f"MLflow run {run.info.run_id} ({run.info.run_name})", run.info.run_id))
    return out


def load_scores_csv(path: str | Path) -> list[Compared]:
    """Published numbers: one model per distinct ``model`` of a CSV with columns ``model,role,task,score``.

    Other columns are ignored, and so are rows whose task is ``mean`` or ``overall`` (derived values), so a
    comparison's own ``comparison.csv`` reads back as its models' task scores.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: a spreadsheet's byte-order mark is not a column name
    except (OSError, UnicodeDecodeError) as e:
        raise CompareError(
            f"{path}: cannot read it ({e}); pass a CSV file with columns {','.join(CSV_COLUMNS)}"
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise CompareError(
            f"{path}:1: no column {', '.join(missing)}; the header must name the columns {','.join(CSV_COLUMNS)}"
        )
    tasks: dict[str, dict[str, dict[str, float]]] = {}
    lines: dict[tuple[str, str], int] = {}  # (model, task) -> the line that gave it
    for row in reader:
        where = f"{path}:{reader.line_num}"
        model, role, task, raw = (str(row[c] or "").strip() for c in CSV_COLUMNS)
        if not model or not task:
            raise CompareError(f"{where}: the model and task columns must not be empty")
        if role not in ROLES:
            raise CompareError(f"{where}: unknown role {role!r}; the role column takes {', '.join(ROLES)}")
        if task in (MEAN, OVERALL):
            continue
        try:
            score = float(raw)
        except ValueError:
            raise CompareError(f"{where}: score {raw!r} is not a number; write e.g. 0.42") from None
        if not math.isfinite(score):
            raise CompareError(f"{where}: score {raw!r} is not a finite number; leave the row out if there is none")
        if (model, task) in lines:
            raise CompareError(f"{where}: {model!r} has a score for {task!r} on line {lines[model, task]} already")
        lines[model, task] = reader.line_num
        tasks.setdefault(model, {}).setdefault(role, {})[task] = score
    if not tasks:
        raise CompareError(f"{path}: no scores, only a header; add rows model,role,task,score")
    return [Compared(m, ModelScores(m, t), str(path), str(path.resolve())) for m, t in tasks.items()]


def _parse_scores(text: str, where: str) -> ModelScores:
    try:
        scores = ModelScores.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CompareError(
            f"{where}: not a scores file ({type(e).__name__}: {e}); it should be what the eval stage writes "
            '({"model": ..., "tasks": {role: {task: score}}})'
        ) from None
    unknown = sorted(set(scores.tasks) - set(ROLES))
    if unknown:
        raise CompareError(f"{where}: unknown role(s) {', '.join(unknown)}; the roles are {', '.join(ROLES)}")
    return scores


def _tagged_descendants(client: Any, root: Any) -> list[Any]:
    """The runs below ``root`` tagged ``agenttune.model``, breadth first; the walk stops at a tagged run."""
    found, todo = [], [root.info.run_id]
    while todo:
        parent = todo.pop(0)
        token = None
        while True:  # pages: a sweep's parent can hold many runs
            page = client.search_runs(
                [root.info.experiment_id], f"tags.mlflow.parentRunId = '{parent}'", max_results=1000, page_token=token
            )
            found += [run for run in page if MODEL_TAG in run.data.tags]
            todo += [run.info.run_id for run in page if MODEL_TAG not in run.data.tags]
            token = page.token
            if not token:
                break
    return found


def _download_scores(client: Any, run: Any) -> ModelScores:
    from mlflow.exceptions import MlflowException

    where = f"MLflow run {run.info.run_id} ({run.info.run_name}, {run.info.status})"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = client.download_artifacts(run.info.run_id, SCORES_FILE, tmp)
            text = Path(local).read_text()
        except (MlflowException, OSError) as e:
            raise CompareError(
                f"{where}: no {SCORES_FILE} artifact ({_first_line(e)}); its eval may have failed: compare another "
                "run, or its run dir"
            ) from None
    return _parse_scores(text, f"{where} artifact {SCORES_FILE}")


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


# ----------------------------------------------------------------------------- scoring


def normalised_overall(
    scores: Mapping[str, Mapping[str, Mapping[str, float]]], baselines: Sequence[str] | None = None
) -> dict[str, dict[str, float]]:
    """The paper's overall score: ``{model: {role: value}}`` for ``scores`` = ``{model: {role: {task: score}}}``.

    For each role, a task's baseline mean is the mean score of the ``baselines`` (default: every model) that
    have a score for it; a baseline without the task is left out of that mean. A model's value for the role is
    the mean, over the role's tasks it has a score for, of score / baseline mean. Tasks that no baseline has, or
    whose baseline mean is 0, are left out of every model's mean for that role: they say nothing about how a
    model compares. A role in which a model has no task left is absent from its dict (the table shows "-").
    """
    names = list(scores)
    chosen = names if baselines is None else list(dict.fromkeys(baselines))
    _check_baselines(chosen, names)
    out: dict[str, dict[str, float]] = {m: {} for m in names}
    for role in ROLES:
        per_task: dict[str, list[float]] = defaultdict(list)
        for b in chosen:
            for task, value in scores[b].get(role, {}).items():
                per_task[task].append(value)
        means = {t: sum(v) / len(v) for t, v in per_task.items() if sum(v) != 0}
        for m in names:
            ratios = [v / means[t] for t, v in scores[m].get(role, {}).items() if t in means]
            if ratios:
                out[m][role] = sum(ratios) / len(ratios)
    return out


def _check_baselines(chosen: list[str], names: list[str]) -> None:
    if not chosen:
        raise CompareError(f"no baseline models given; name one or more of: {', '.join(names)}")
    unknown = [b for b in chosen if b not in names]
    if unknown:
        hints = [
            f" (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(u, names, 1)) else ""
            for u in unknown
        ]
        listed = ", ".join(f"{u!r}{h}" for u, h in zip(unknown, hints, strict=True))
        raise CompareError(f"unknown baseline model {listed}; the compared models are: {', '.join(names)}")


@dataclass
class Comparison:
    """Models side by side: their task scores and the paper's overall score against ``baselines``."""

    models: dict[str, Compared]  # name -> model, in the table's column order
    baselines: list[str]
    overall: dict[str, dict[str, float]]  # name -> role -> normalised overall score (roles without one: absent)

    def tasks(self) -> dict[str, list[str]]:
        """Each role's tasks (any model's), in order of first appearance; roles no model has tasks in: absent."""
        out: dict[str, list[str]] = {}
        for role in ROLES:
            names = dict.fromkeys(t for c in self.models.values() for t in c.scores.tasks.get(role, {}))
            if names:
                out[role] = list(names)
        return out

    def rows(self) -> list[tuple[str, str, str, float]]:
        """``(model, role, task, score)`` per task score, then each role's raw mean (task ``mean``) and the
        overall score (task ``overall``): ``comparison.csv``."""
        out = [(n, role, t, s) for n, c in self.models.items() for role in ROLES for t, s in _tasks(c, role).items()]
        out += [(n, role, MEAN, s) for n, c in self.models.items() for role, s in c.scores.role_scores().items()]
        return out + [(n, role, OVERALL, s) for n, o in self.overall.items() for role, s in o.items()]

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """What ``--json`` prints: ``{"overall": {model: {role: x}}, "tasks": {model: {task: score}}}``; roles a
        model has no overall score for are left out, and tasks are flattened across roles."""
        return {
            "overall": {n: dict(o) for n, o in self.overall.items()},
            "tasks": {n: {t: s for role in ROLES for t, s in _tasks(c, role).items()} for n, c in self.models.items()},
        }


def _tasks(model: Compared, role: str) -> dict[str, float]:
    return model.scores.tasks.get(role, {})


def compare(models: Iterable[Compared], baselines: Sequence[str] | None = None) -> Comparison:
    """Models (in column order) and their overall scores against ``baselines`` (default: all of them).

    Two inputs that give the same model name are an error naming both."""
    by_name: dict[str, Compared] = {}
    for m in models:
        if (first := by_name.get(m.name)) is not None:
            raise CompareError(
                f"two inputs give the model {m.name!r}: {first.source} and {m.source}; pass each run once (runs that "
                "share a run.name clash: edit the run field of one's scores.json, or a CSV's model column)"
            )
        by_name[m.name] = m
    if not by_name:
        raise CompareError("nothing to compare: give a run dir, an MLflow run id or a CSV of scores")
    chosen = list(by_name) if baselines is None else list(dict.fromkeys(baselines))
    overall = normalised_overall({n: c.scores.tasks for n, c in by_name.items()}, chosen)
    return Comparison(by_name, chosen, overall)


# ----------------------------------------------------------------------------- output


def render_table(comparison: Comparison) -> Any:
    """The paper's table as a ``rich`` table: a section of task rows per role, each closed by the role's raw
    mean; then an ``overall`` section with the normalised score of each role. One column per model; the best
    value of each row in bold; "-" where a model has no score."""
    from rich.table import Table

    names = list(comparison.models)
    table = Table(
        title="agenttune compare",
        caption=(
            "mean: the role's mean task score. overall: each task's score / the baselines' mean on it, averaged over "
            f"the role's tasks (baselines: {', '.join(comparison.baselines)}). -: no score."
        ),
    )
    table.add_column("role", no_wrap=True)
    table.add_column("task", no_wrap=True)
    for name in names:
        table.add_column(name, justify="right")
    tasks = comparison.tasks()
    for role, role_tasks in tasks.items():
        for i, task in enumerate(role_tasks):
            values = [_tasks(comparison.models[n], role).get(task) for n in names]
            table.add_row(role if i == 0 else "", task, *_cells(values))
        means = [comparison.models[n].scores.role_scores().get(role) for n in names]
        table.add_row("", MEAN, *_cells(means), style="italic", end_section=True)
    for i, role in enumerate(ROLES):
        table.add_row(OVERALL if i == 0 else "", role, *_cells([comparison.overall[n].get(role) for n in names]))
    return table


def _cells(values: list[float | None]) -> list[str]:
    shown = ["-" if v is None else f"{v:.3f}" for v in values]
    present = [v for v in values if v is not None]
    if len(set(present)) < 2:  # one score, or a tie of every model: no "best"
        return shown
    best = max(present)
    return [f"[bold]{s}[/bold]" if v == best else s for s, v in zip(shown, values, strict=True)]


def write_csv(comparison: Comparison, path: str | Path) -> Path:
    """``comparison.csv``: columns model,role,task,score (``Comparison.rows``), floats at full precision."""
    path = Path(path)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(comparison.rows())
    return path


def write_charts(comparison: Comparison, folder: str | Path) -> list[Path]:
    """``<role>.png`` per role with tasks (bars: the task scores of each model) and ``overall.png`` (bars: each
    model's overall score per role, with a line at 1.0, the baselines' level)."""
    folder = Path(folder)
    models = comparison.models
    paths = [
        bar_chart(folder / f"{role}.png", f"{role}: task scores", {n: _tasks(c, role) for n, c in models.items()})
        for role in comparison.tasks()
    ]
    title = f"overall (1.0 = the mean of {', '.join(comparison.baselines)})"
    overall = bar_chart(
        folder / f"{OVERALL}.png", title, comparison.overall, categories=ROLES, ylabel="normalised score", reference=1
    )
    return [*paths, overall]


def metric_keys(names: Iterable[str]) -> dict[str, str]:
    """Each model's part of a metric name (``compare/<part>/<role>``): characters MLflow takes anywhere, distinct
    for distinct models (``gpt 4`` and ``gpt_4`` would both be ``gpt_4``: the second gets ``gpt_4_2``)."""
    from train.mlflow_utils import param_key

    out: dict[str, str] = {}
    for name in names:
        key = param_key(f"compare/{_METRIC_UNSAFE.sub('_', name)}").removeprefix("compare/")
        base, n = key, 1
        while key in out.values():
            n += 1
            key = f"{base}_{n}"
        out[name] = key
    return out


def log_comparison(comparison: Comparison, tracking_uri: str, experiment: str, *, inputs: Sequence[str] = ()) -> str:
    """Log the comparison as a run ``compare`` of ``experiment``; return its id.

    The run holds ``comparison.csv``, ``comparison.json`` (the ``--json`` summary) and ``charts/<role>.png``,
    ``charts/overall.png``; metrics ``compare/<model>/<role>`` (the overall scores); params ``baselines``,
    ``models`` and ``input.<i>`` (what was given on the command line); and, per model in column order, tags
    ``agenttune.compared.<i>`` (its eval run's id, its run dir, or its CSV file) and ``agenttune.compared.<i>.model``.
    """
    import mlflow

    from train import mlflow_utils as mlf

    names = list(comparison.models)
    tags = {}
    for i, (name, model) in enumerate(comparison.models.items()):
        tags[f"{COMPARED_TAG}.{i}"] = model.link
        tags[f"{COMPARED_TAG}.{i}.model"] = name
    keys = metric_keys(names)
    metrics = {f"compare/{keys[n]}/{role}": v for n, o in comparison.overall.items() for role, v in o.items()}
    params = {"baselines": ",".join(comparison.baselines), "models": ",".join(names)}
    params |= {f"input.{i}": value for i, value in enumerate(inputs)}
    mlf.setup(tracking_uri, experiment)
    with tempfile.TemporaryDirectory() as tmp, mlf.stage_run("compare", parent=True, tags=tags) as run_id:
        mlf.log_params(params)
        mlf.log_metrics(metrics)
        mlf.log_artifact(write_csv(comparison, Path(tmp) / "comparison.csv"), "")
        mlflow.log_dict(comparison.summary(), "comparison.json")
        write_charts(comparison, Path(tmp) / "charts")
        mlf.log_artifact(Path(tmp) / "charts", "charts")
    return run_id
