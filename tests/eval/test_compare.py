"""The paper's comparison table (module eval.compare): loading run dirs, MLflow runs and CSVs of published
numbers, the normalised overall score worked out by hand, the table, the charts and the MLflow run it logs."""

from __future__ import annotations

import csv
import json
import re
from fractions import Fraction
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from rich.console import Console

from eval.charts import PNG_SIGNATURE, bar_chart, scatter_chart
from eval.compare import (
    Compared,
    CompareError,
    compare,
    load_mlflow_run,
    load_run_dir,
    load_scores_csv,
    log_comparison,
    metric_keys,
    normalised_overall,
    render_table,
    write_csv,
)
from eval.scoring import ModelScores
from tests.conftest import mlflow_store
from tests.eval.compare_inputs import (
    DB,
    KG,
    OS,
    OVERALL_VS_BASE_AND_GPT4,
    WS,
    A,
    B,
    C,
    D,
    assert_numbers,
    write_inputs,
    write_run_dir,
)

# ----------------------------------------------------------------------------- the normalised overall score


def test_overall_divides_by_the_baselines_mean_per_task() -> None:
    scores = {"demo/tuned": A, "demo/base": B, "gpt-4": C, "eta05/tuned": D}
    got = normalised_overall(scores, ["demo/base", "gpt-4"])
    assert_numbers(got, OVERALL_VS_BASE_AND_GPT4)
    assert list(got["eta05/tuned"]) == ["held_in", "held_out"]  # no general task: the role is absent


def test_default_baselines_are_all_models() -> None:
    # held_in means: DB (0.8+0.4+0.6)/3 = 0.6, OS 0.4 -> A (0.8/0.6 + 0.6/0.4)/2 = 17/12, B (2/3 + 1/2)/2 = 7/12
    # held_out means: KG 0.3, WS 0.4 -> A (1 + 5/4)/2 = 9/8, B (1/3 + 5/4)/2 = 19/24, C (5/3 + 1/2)/2 = 13/12
    # general means: mmlu 1.7/3 = 17/30, gsm8k (0.1+0.3)/2 = 0.2 -> A (12/17 + 1/2)/2 = 41/68, B (15/17 + 3/2)/2
    expected = {
        "a": {"held_in": Fraction(17, 12), "held_out": Fraction(9, 8), "general": Fraction(41, 68)},
        "b": {"held_in": Fraction(7, 12), "held_out": Fraction(19, 24), "general": Fraction(81, 68)},
        "c": {"held_in": Fraction(1), "held_out": Fraction(13, 12), "general": Fraction(24, 17)},
    }
    assert_numbers(normalised_overall({"a": A, "b": B, "c": C}), expected)


def test_tasks_without_a_usable_baseline_mean_are_left_out_of_every_model() -> None:
    scores = {
        # x: no baseline has it; t2 and t3: the baselines' mean is 0
        "a": {"held_in": {"t1": 0.5, "t2": 0.0, "x": 0.9}, "held_out": {"t3": 0.7}},
        "b": {"held_in": {"t1": 0.25, "t2": 0.0}, "held_out": {"t3": 0.0}},
    }
    # held_in: only t1 counts (0.5/0.25 = 2, 0.25/0.25 = 1); held_out: no task left, so no score at all
    assert normalised_overall(scores, ["b"]) == {"a": {"held_in": 2.0}, "b": {"held_in": 1.0}}


def test_unknown_baseline_lists_the_known_models() -> None:
    with pytest.raises(CompareError) as e:
        normalised_overall({"demo/tuned": A, "demo/base": B}, ["demo/bsae", "gpt-4"])
    assert str(e.value) == (
        "unknown baseline model 'demo/bsae' (did you mean 'demo/base'?), 'gpt-4'; the compared models are: "
        "demo/tuned, demo/base"
    )
    with pytest.raises(CompareError, match="no baseline models given"):
        normalised_overall({"demo/tuned": A}, [])


# ----------------------------------------------------------------------------- loading


def test_run_dirs_and_csv_give_named_models(tmp_path: Path) -> None:
    demo, eta, paper = write_inputs(tmp_path)
    models = load_run_dir(demo) + load_run_dir(eta) + load_scores_csv(paper)
    assert [m.name for m in models] == ["demo/base", "demo/tuned", "eta05/tuned", "gpt-4"]
    assert [m.scores.tasks for m in models] == [B, A, D, C]
    assert [m.link for m in models] == [str(demo), str(demo), str(eta), str(paper)]
    assert models[1].source == f"run dir {demo} (eval/tuned/scores.json)"


def test_run_dir_without_scores_says_to_evaluate_it(tmp_path: Path) -> None:
    with pytest.raises(CompareError, match=r"no eval/<label>/scores.json in this run dir; evaluate it first"):
        load_run_dir(tmp_path)


def test_malformed_scores_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "eval" / "tuned" / "scores.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"model": "tuned", "tasks": {"held-in": {"x": 1}}}')
    with pytest.raises(
        CompareError, match=rf"^{re.escape(str(bad))}: unknown role\(s\) held-in; the roles are held_in, held_out"
    ):
        load_run_dir(tmp_path)
    bad.write_text("{")
    with pytest.raises(CompareError, match=rf"^{re.escape(str(bad))}: not a scores file \(JSONDecodeError"):
        load_run_dir(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model,task,score\ngpt-4,mmlu,0.8\n", ":1: no column role; the header must name the columns model,role,"),
        ("model,role,task,score\ngpt-4,general,mmlu,0.8\ngpt-4,heldin,x,0.1\n", ":3: unknown role 'heldin'; the"),
        ("model,role,task,score\ngpt-4,general,mmlu,80%\n", ":2: score '80%' is not a number; write e.g. 0.42"),
        ("model,role,task,score\ngpt-4,general,mmlu\n", ":2: score '' is not a number"),
        ("model,role,task,score\ngpt-4,general,mmlu,nan\n", ":2: score 'nan' is not a finite number"),
        ("model,role,task,score\n,general,mmlu,0.1\n", ":2: the model and task columns must not be empty"),
        ("model,role,task,score\nm,general,t,0.1\n\nm,held_in,t,0.2\n", ":4: 'm' has a score for 't' on line 2"),
        ("model,role,task,score\n", ": no scores, only a header"),
    ],
)
def test_bad_csv_names_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "paper.csv"
    path.write_text(text)
    with pytest.raises(CompareError) as e:
        load_scores_csv(path)
    assert str(e.value).startswith(f"{path}{message}"), str(e.value)
    assert "\n" not in str(e.value)


def test_duplicate_model_names_name_both_sources(tmp_path: Path) -> None:
    demo, _, _ = write_inputs(tmp_path)
    clash = tmp_path / "clash.csv"
    clash.write_text("model,role,task,score\ndemo/tuned,general,mmlu,0.3\n")
    with pytest.raises(CompareError) as e:
        compare(load_run_dir(demo) + load_scores_csv(clash))
    assert str(e.value) == (
        f"two inputs give the model 'demo/tuned': run dir {demo} (eval/tuned/scores.json) and {clash}; pass each "
        "run once (runs that share a run.name clash: edit the run field of one's scores.json, or a CSV's model column)"
    )


# ----------------------------------------------------------------------------- the table and its files


def comparison(tmp_path: Path):
    demo, eta, paper = write_inputs(tmp_path)
    models = load_run_dir(demo) + load_run_dir(eta) + load_scores_csv(paper)
    return compare(models, ["demo/base", "gpt-4"])


def test_table_rows(tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    console.print(render_table(comparison(tmp_path)))
    cells = {
        tuple(c.strip() for c in line.split("│")[1:-1])
        for line in console.export_text().splitlines()
        if line.startswith("│")
    }
    # role, task, then demo/base, demo/tuned, eta05/tuned, gpt-4
    assert ("held_in", DB, "0.400", "0.800", "0.500", "0.600") in cells
    assert ("", WS, "0.500", "0.500", "-", "0.200") in cells
    assert ("", "mean", "0.300", "0.700", "0.400", "0.500") in cells  # held_in's raw means
    assert ("", "gsm8k", "0.300", "0.100", "-", "-") in cells
    assert ("overall", "held_in", "0.733", "1.800", "1.000", "1.267") in cells
    assert ("", "held_out", "0.881", "1.214", "2.000", "1.119") in cells
    assert ("", "general", "0.885", "0.474", "-", "1.231") in cells


def test_summary_and_csv_read_back(tmp_path: Path) -> None:
    result = comparison(tmp_path)
    summary = json.loads(json.dumps(result.summary()))
    assert_numbers(summary["overall"], OVERALL_VS_BASE_AND_GPT4)
    assert summary["tasks"]["gpt-4"] == {DB: 0.6, OS: 0.4, KG: 0.5, WS: 0.2, "mmlu": 0.8}
    assert summary["tasks"]["eta05/tuned"] == {DB: 0.5, OS: 0.3, KG: 0.6}

    path = write_csv(result, tmp_path / "comparison.csv")
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["model", "role", "task", "score"]
    assert len(rows) == 1 + 20 + 11 + 11  # task scores, role means, overall scores
    assert ["demo/tuned", "general", "mean", "0.25"] in rows
    assert ["eta05/tuned", "held_out", "overall", "2.0"] in rows
    # Read back as published numbers, it gives the same task scores (its mean and overall rows are skipped).
    assert {m.name: m.scores.tasks for m in load_scores_csv(path)} == {"demo/base": B, "demo/tuned": A} | {
        "eta05/tuned": D,
        "gpt-4": C,
    }


def test_charts_are_pngs(tmp_path: Path) -> None:
    bars = bar_chart(tmp_path / "b.png", "t", {"a": {"x": 1.0, "y": 0.5}, "b": {"y": 0.2}, "c": {}}, reference=1.0)
    points = scatter_chart(tmp_path / "s" / "p.png", "t", {"a": {0.2: 1.0, 0.5: 0.8}}, xlabel="eta", ylabel="y")
    assert bars.read_bytes()[:8] == PNG_SIGNATURE and points.read_bytes()[:8] == PNG_SIGNATURE


def test_metric_keys_are_valid_and_distinct() -> None:
    names = ["demo/tuned", "gpt 4", "gpt_4", "GPT-4 (paper)", "../x"]
    assert metric_keys(names) == {
        "demo/tuned": "demo/tuned",
        "gpt 4": "gpt_4",
        "gpt_4": "gpt_4_2",
        "GPT-4 (paper)": "GPT-4__paper_",
        "../x": "compare_.._x",  # a path trick: param_key flattens the whole name
    }


# ----------------------------------------------------------------------------- MLflow


@pytest.fixture(scope="module")
def eval_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A store with a pipeline run as the eval stage leaves it: demo:pipeline > eval > eval-tuned, eval-base
    (tagged agenttune.model, each with scores.json at its root); a run without tagged children; a tagged run
    without scores.json."""
    tmp = tmp_path_factory.mktemp("evalruns")
    files = write_run_dir(tmp / "run", "demo", {"tuned": A, "base": B}) / "eval"
    uri = f"sqlite:///{tmp}/m.db"
    ids = {"uri": uri}
    with mlflow_store(uri, "agenttune"):
        with mlflow.start_run(run_name="demo:pipeline") as parent, mlflow.start_run(run_name="eval", nested=True):
            ids["parent"] = parent.info.run_id
            for label in ("tuned", "base"):
                with mlflow.start_run(run_name=f"eval-{label}", nested=True, tags={"agenttune.model": label}) as r:
                    mlflow.log_artifact(str(files / label / "scores.json"))
                    ids[label] = r.info.run_id
        with mlflow.start_run(run_name="demo:rollout") as r:
            ids["untagged"] = r.info.run_id
        with mlflow.start_run(run_name="eval-broken", tags={"agenttune.model": "broken"}) as r:
            ids["broken"] = r.info.run_id
    return ids


def test_parent_run_id_finds_the_nested_eval_runs(eval_runs: dict[str, str]) -> None:
    models = load_mlflow_run(eval_runs["parent"], eval_runs["uri"])
    assert [(m.name, m.scores.tasks, m.link) for m in models] == [
        ("demo/base", B, eval_runs["base"]),
        ("demo/tuned", A, eval_runs["tuned"]),
    ]
    assert models[1].source == f"MLflow run {eval_runs['tuned']} (eval-tuned)"
    only = load_mlflow_run(eval_runs["tuned"], eval_runs["uri"])  # an eval run itself: just that model
    assert [(m.name, m.scores.tasks) for m in only] == [("demo/tuned", A)]


def test_mlflow_runs_that_give_no_model(eval_runs: dict[str, str]) -> None:
    uri, missing = eval_runs["uri"], "0123456789abcdef0123456789abcdef"
    with pytest.raises(CompareError, match=rf"^MLflow run {missing}: not found in {re.escape(uri)} \("):
        load_mlflow_run(missing, uri)
    with pytest.raises(CompareError, match=r"\(demo:rollout\): neither it nor any run nested below it is tagged"):
        load_mlflow_run(eval_runs["untagged"], uri)
    with pytest.raises(CompareError, match=r"\(eval-broken, FINISHED\): no scores.json artifact"):
        load_mlflow_run(eval_runs["broken"], uri)


def test_comparison_run_in_mlflow(tmp_path: Path, eval_runs: dict[str, str]) -> None:
    _, _, paper = write_inputs(tmp_path)
    result = compare(load_mlflow_run(eval_runs["parent"], eval_runs["uri"]) + load_scores_csv(paper), ["gpt-4"])
    uri = eval_runs["uri"]  # the store the eval runs are in (a fresh SQLite store takes seconds to create)
    with mlflow_store(uri, "agenttune-compare"):
        run_id = log_comparison(result, uri, "agenttune-compare", inputs=[eval_runs["parent"], "--scores x.csv"])
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.run_name == "compare" and run.info.status == "FINISHED"
    tags = run.data.tags
    assert [tags[f"agenttune.compared.{i}"] for i in range(3)] == [eval_runs["base"], eval_runs["tuned"], str(paper)]
    assert [tags[f"agenttune.compared.{i}.model"] for i in range(3)] == ["demo/base", "demo/tuned", "gpt-4"]
    assert run.data.params == {
        "baselines": "gpt-4",
        "models": "demo/base,demo/tuned,gpt-4",
        "input.0": eval_runs["parent"],
        "input.1": "--scores x.csv",
    }
    # gpt-4 alone is the baseline: held_in B (0.4/0.6 + 0.2/0.4)/2 = 7/12; held_out B (0.1/0.5 + 0.5/0.2)/2 = 27/20;
    # general: gsm8k has no baseline, so only mmlu counts: A 0.4/0.8 = 1/2, B 0.5/0.8 = 5/8
    base = {k.removeprefix("compare/demo/base/"): v for k, v in run.data.metrics.items() if "/demo/base/" in k}
    assert_numbers(base, {"held_in": Fraction(7, 12), "held_out": Fraction(27, 20), "general": Fraction(5, 8)})
    assert run.data.metrics["compare/demo/tuned/general"] == 0.5 and run.data.metrics["compare/gpt-4/general"] == 1
    files = {f.path for f in client.list_artifacts(run_id)} | {f.path for f in client.list_artifacts(run_id, "charts")}
    assert files == {"comparison.csv", "comparison.json", "charts"} | {
        f"charts/{name}.png" for name in ("held_in", "held_out", "general", "overall")
    }
    local = Path(client.download_artifacts(run_id, "", str(tmp_path / "down")))
    for name in ("held_in", "held_out", "general", "overall"):
        assert (local / "charts" / f"{name}.png").read_bytes()[:8] == PNG_SIGNATURE
    assert {m.name: m.scores.tasks for m in load_scores_csv(local / "comparison.csv")} == {
        "demo/base": B,
        "demo/tuned": A,
        "gpt-4": C,
    }
    assert json.loads((local / "comparison.json").read_text()) == result.summary()


def test_a_model_without_tasks_has_no_overall_score() -> None:
    empty = Compared("x/y", ModelScores("y", {}), "somewhere", "link")
    assert compare([empty]).overall == {"x/y": {}}
    with pytest.raises(CompareError, match="nothing to compare"):
        compare([])
