from pathlib import Path

import pytest

from cluster.cli import main
from cluster.config import PipelineConfig, load_config, parse_override
from cluster.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "cluster" / "configs").glob("*.yaml"))


def test_configs_are_shipped():
    assert {p.name for p in CONFIGS} >= {"demo.yaml", "agenttuning-7b.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_validates(path):
    assert isinstance(load_config(path), PipelineConfig)


def test_paper_recipe_values():
    cfg = load_config(next(p for p in CONFIGS if p.name == "agenttuning-7b.yaml"))
    t = cfg.train
    assert cfg.model.name_or_path == "meta-llama/Llama-2-7b-chat-hf"
    assert cfg.mix.eta == 0.2
    assert (t.lr, t.global_batch_size, t.seq_len, t.steps) == (5e-5, 64, 4096, 2000)
    assert (t.schedule, t.warmup_ratio, t.betas, t.weight_decay, t.grad_clip) == (
        "cosine",
        0.02,
        (0.9, 0.95),
        0.1,
        1.0,
    )
    assert (t.precision, t.zero_stage) == ("bf16", 3)


def test_overrides_apply_with_yaml_types(tmp_path):
    cfg = load_config(CONFIGS[0], ["train.lr=1e-4", "rollout.envs.0.num_tasks=3", "eval.compare_base=false"])
    assert cfg.train.lr == 1e-4 and cfg.rollout.envs[0].num_tasks == 3 and cfg.eval.compare_base is False
    assert parse_override("a.b=[1, 2]") == ("a.b", [1, 2])


def test_all_problems_reported_together_with_keys_values_and_suggestions(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run:\n  name: x\ntrain:\n  stepz: 3\n  lr: -1\nrollout:\n  max_actors: zero\n")
    with pytest.raises(ConfigError) as e:
        load_config(bad, ["mix.eta=2", "nonsense"])
    problems = e.value.problems
    text = str(e.value)
    assert len(problems) == 5, problems
    assert "train.stepz: unknown key (line 4); did you mean 'train.steps'?" in text
    assert "train.lr: Input should be greater than 0 (got -1) (line 5)" in text
    assert "rollout.max_actors" in text and "'zero'" in text
    assert "mix.eta" in text and "(got 2) (from the command line)" in text
    assert "override 'nonsense': expected key=value" in text


def test_a_cross_field_problem_names_the_section_and_its_fields_without_dumping_it():
    with pytest.raises(ConfigError) as e:
        load_config(CONFIGS[0], ["rollout.min_actors=4", "rollout.max_actors=2"])
    [problem] = e.value.problems
    assert problem == "rollout: min_actors (4) must be <= max_actors (2) (from the command line)"


def test_batch_size_must_divide(tmp_path):
    with pytest.raises(ConfigError, match="global_batch_size .* multiple of micro_batch_size x num_workers"):
        load_config(CONFIGS[0], ["train.global_batch_size=6", "train.micro_batch_size=4"])


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_a_stage_without_its_input_names_the_stage_to_run(capsys, tmp_path):
    demo = str(next(p for p in CONFIGS if p.name == "demo.yaml"))
    import ray

    try:
        assert main(["filter", demo, f"run.dir={tmp_path}", "--no-progress"]) == 2
    finally:
        ray.shutdown()  # the command started a local Ray; later modules start their own
    err = capsys.readouterr().err
    assert "trajectories.jsonl does not exist: run `agenttune rollout" in err


def test_validate_command_exit_codes(capsys, tmp_path):
    demo = str(next(p for p in CONFIGS if p.name == "demo.yaml"))
    assert main(["validate", demo, "train.steps=3"]) == 0
    assert "steps: 3" in capsys.readouterr().out
    assert main(["validate", demo, "train.stepss=3", "train.lr=0"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'train.steps'" in err and "train.lr" in err


def test_every_config_field_is_documented():
    from pydantic import BaseModel

    from cluster.config import _section_type

    undocumented = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            if not (field.description or "").strip():
                undocumented.append(f"{prefix}{name}")
            section = _section_type(field.annotation)
            if section is not None:
                walk(section, f"{prefix}{name}.")

    walk(PipelineConfig, "")
    assert not undocumented


def test_sandbox_section_shorthand_image_overrides_and_a_bad_image_path(tmp_path):
    demo = next(p for p in CONFIGS if p.name == "demo.yaml")
    cfg = load_config(demo)
    assert (cfg.sandbox.kind, cfg.sandbox.image) == ("bwrap", "auto")  # `sandbox: bwrap` is {kind: bwrap}
    cfg = load_config(demo, ["sandbox.image=host"])  # a key of the shorthand section still overrides
    assert (cfg.sandbox.kind, cfg.sandbox.image) == ("bwrap", "host")
    assert load_config(demo, ["sandbox=none"]).sandbox.kind == "none"
    with pytest.raises(ConfigError, match=r"sandbox\.image: .*not a built task image.*make os-image"):
        load_config(demo, [f"sandbox.image={tmp_path}"])
    with pytest.raises(ConfigError, match=r"sandbox\.kind: Input should be 'bwrap' or 'none'"):
        load_config(demo, ["sandbox.kind=docker"])


def test_the_sandbox_image_reaches_the_os_env_kwargs():
    from envs.config import EnvSelection, env_kwargs

    os_env, db = EnvSelection(id="agenttune/OS-v0"), EnvSelection(id="agenttune/DB-v0")
    cfg = load_config(next(p for p in CONFIGS if p.name == "demo.yaml"), ["sandbox.image=host"])
    assert env_kwargs([os_env, db], cfg.sandbox) == {
        "agenttune/OS-v0": {"sandbox": "bwrap", "sandbox_image": "host"},
        "agenttune/DB-v0": {},
    }
    assert env_kwargs([os_env], "bwrap") == {"agenttune/OS-v0": {"sandbox": "bwrap"}}  # auto: the env's default
