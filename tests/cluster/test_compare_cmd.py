"""``agenttune compare``: run dirs, MLflow run ids and CSVs in; the table, the ``--json`` last line and the MLflow
comparison run out; one-line errors (module cluster.compare_cmd)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from cluster import compare_cmd
from cluster.errors import ClusterError
from eval.charts import PNG_SIGNATURE
from eval.compare import CompareError
from tests.conftest import mlflow_store
from tests.eval.compare_inputs import OVERALL_VS_BASE_AND_GPT4, A, assert_numbers, write_inputs, write_run_dir


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="agenttune")
    compare_cmd.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(autouse=True)
def no_user_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default store is the first run dir's unless the user's MLFLOW_TRACKING_URI says otherwise."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def test_json_last_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo, eta, paper = write_inputs(tmp_path)
    argv = [str(demo), str(eta), "--scores", str(paper), "--baselines", "demo/base, gpt-4", "--json", "--no-mlflow"]
    assert cli(["compare", *argv]) == 0
    out = capsys.readouterr().out
    assert "agenttune compare" in out.splitlines()[0]  # the table's title comes first
    last = json.loads(out.splitlines()[-1])
    assert list(last) == ["overall", "tasks"]
    assert list(last["overall"]) == ["demo/base", "demo/tuned", "eta05/tuned", "gpt-4"]  # the inputs' order
    assert_numbers(last["overall"], OVERALL_VS_BASE_AND_GPT4)
    assert last["tasks"]["demo/tuned"] == {
        "agenttune/DB-v0": 0.8,
        "agenttune/OS-v0": 0.6,
        "agenttune/KG-v0": 0.3,
        "agenttune/WebShop-v0": 0.5,
        "mmlu": 0.4,
        "gsm8k": 0.1,
    }
    assert not (demo / "mlflow.db").exists()


def test_logs_the_comparison_to_the_first_run_dirs_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo, eta, paper = write_inputs(tmp_path)
    uri = f"sqlite:///{demo}/mlflow.db"  # the default: no --tracking-uri, no MLFLOW_TRACKING_URI
    with mlflow_store(uri, "agenttune-compare"):
        assert cli(["compare", str(demo), str(eta), "--scores", str(paper)]) == 0
    out = capsys.readouterr().out
    assert f"in experiment agenttune-compare at {uri}" in out.splitlines()[-1]
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("agenttune-compare").experiment_id])
    assert run.info.run_name == "compare"
    assert {k: v for k, v in run.data.tags.items() if k.startswith("agenttune.compared.")} == {
        "agenttune.compared.0": str(demo),
        "agenttune.compared.0.model": "demo/base",
        "agenttune.compared.1": str(demo),
        "agenttune.compared.1.model": "demo/tuned",
        "agenttune.compared.2": str(eta),
        "agenttune.compared.2.model": "eta05/tuned",
        "agenttune.compared.3": str(paper),
        "agenttune.compared.3.model": "gpt-4",
    }
    assert run.data.params["baselines"] == "demo/base,demo/tuned,eta05/tuned,gpt-4"
    assert [run.data.params[f"input.{i}"] for i in range(3)] == [str(demo), str(eta), f"--scores {paper}"]
    local = Path(client.download_artifacts(run.info.run_id, "charts", str(tmp_path / "down")))
    assert sorted(p.name for p in local.iterdir()) == ["general.png", "held_in.png", "held_out.png", "overall.png"]
    assert all(p.read_bytes()[:8] == PNG_SIGNATURE for p in local.iterdir())


def test_mlflow_run_id_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scores = write_run_dir(tmp_path / "run", "demo", {"tuned": A}) / "eval" / "tuned" / "scores.json"
    uri = f"sqlite:///{tmp_path}/m.db"
    with mlflow_store(uri, "agenttune"):
        with mlflow.start_run(run_name="demo:pipeline") as parent, mlflow.start_run(run_name="eval", nested=True):
            with mlflow.start_run(run_name="eval-tuned", nested=True, tags={"agenttune.model": "tuned"}):
                mlflow.log_artifact(str(scores))
    assert cli(["compare", parent.info.run_id.upper(), "--tracking-uri", uri, "--json", "--no-mlflow"]) == 0
    last = json.loads(capsys.readouterr().out.splitlines()[-1])
    # One model is its own baseline: 1.0 in every role it has tasks in.
    assert last["overall"] == {"demo/tuned": {"held_in": 1.0, "held_out": 1.0, "general": 1.0}}
    assert last["tasks"]["demo/tuned"]["agenttune/DB-v0"] == 0.8
    missing = "0123456789abcdef0123456789abcdef"
    with pytest.raises(CompareError, match=rf"^MLflow run {missing}: not found in {re.escape(uri)} \("):
        cli(["compare", missing, "--tracking-uri", uri, "--no-mlflow"])


def test_help_says_what_the_inputs_are(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli(["compare", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for words in ("RUN_DIR", "MLFLOW_RUN_ID", "32 hex characters", "--scores FILE.csv", "model,role,task,score"):
        assert words in text, words
    for flag in ("--baselines NAME,...", "--json", "--tracking-uri URI", "--experiment NAME", "--no-mlflow"):
        assert flag in text, flag


def test_input_errors(tmp_path: Path) -> None:
    demo, _, paper = write_inputs(tmp_path)
    with pytest.raises(ClusterError, match=r"^compare: nothing to compare; give run dirs"):
        cli(["compare"])
    with pytest.raises(ClusterError, match=r"^compare: 'runs/nope' is neither a directory nor an MLflow run id"):
        cli(["compare", "runs/nope"])
    with pytest.raises(ClusterError, match=r"is a file, not a run dir; pass a CSV of scores as --scores"):
        cli(["compare", str(paper)])
    with pytest.raises(ClusterError, match=r"no MLflow store, which the comparison is logged to; pass --tracking-uri"):
        cli(["compare", "--scores", str(paper)])
    with pytest.raises(ClusterError, match=r"no MLflow store, which MLflow run ids are read from"):
        cli(["compare", "0123456789abcdef0123456789abcdef", "--no-mlflow"])
    with pytest.raises(CompareError, match=r"^unknown baseline model 'gpt4' \(did you mean 'gpt-4'\?\)"):
        cli(["compare", str(demo), "--scores", str(paper), "--baselines", "gpt4", "--no-mlflow"])
    with pytest.raises(CompareError, match=r"^two inputs give the model 'demo/base': run dir"):
        cli(["compare", str(demo), str(demo), "--no-mlflow"])
    bad = tmp_path / "bad.csv"
    bad.write_text("model,role,task,score\ngpt-4,general,mmlu,0.8\ngpt-4,general,gsm8k,n/a\n")
    with pytest.raises(CompareError, match=rf"^{re.escape(str(bad))}:3: score 'n/a' is not a number"):
        cli(["compare", "--scores", str(bad), "--no-mlflow"])
