"""Hand-written scores for the comparison tests (tests/eval/test_compare.py, tests/cluster/test_compare_cmd.py),
and the paper's normalised overall scores worked out by hand from them.

Two run dirs: ``demo`` (tuned = A, base = B) and ``eta05`` (tuned = D, no general tasks); GPT-4's published
numbers (C, no gsm8k) in a CSV.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

from eval.scoring import ModelScores

DB, OS, KG, WS = "agenttune/DB-v0", "agenttune/OS-v0", "agenttune/KG-v0", "agenttune/WebShop-v0"
A = {"held_in": {DB: 0.8, OS: 0.6}, "held_out": {KG: 0.3, WS: 0.5}, "general": {"mmlu": 0.4, "gsm8k": 0.1}}
B = {"held_in": {DB: 0.4, OS: 0.2}, "held_out": {KG: 0.1, WS: 0.5}, "general": {"mmlu": 0.5, "gsm8k": 0.3}}
C = {"held_in": {DB: 0.6, OS: 0.4}, "held_out": {KG: 0.5, WS: 0.2}, "general": {"mmlu": 0.8}}
D = {"held_in": {DB: 0.5, OS: 0.3}, "held_out": {KG: 0.6}}

GPT4_CSV = f"""model,role,task,score
gpt-4,held_in,{DB},0.6
gpt-4,held_in,{OS},0.4
gpt-4,held_out,{KG},0.5
gpt-4,held_out,{WS},0.2
gpt-4,general,mmlu,0.8
"""

# Baselines demo/base (B) and gpt-4 (C). Baseline means per task:
#   held_in:  DB (0.4+0.6)/2 = 0.5    OS (0.2+0.4)/2 = 0.3
#   held_out: KG (0.1+0.5)/2 = 0.3    WS (0.5+0.2)/2 = 0.35
#   general:  mmlu (0.5+0.8)/2 = 0.65  gsm8k: only B has it, 0.3
# e.g. A held_out = (0.3/0.3 + 0.5/0.35)/2 = (1 + 10/7)/2 = 17/14; C general = 0.8/0.65 = 16/13 (C lacks gsm8k).
OVERALL_VS_BASE_AND_GPT4 = {
    "demo/tuned": {"held_in": Fraction(9, 5), "held_out": Fraction(17, 14), "general": Fraction(37, 78)},
    "demo/base": {"held_in": Fraction(11, 15), "held_out": Fraction(37, 42), "general": Fraction(23, 26)},
    "gpt-4": {"held_in": Fraction(19, 15), "held_out": Fraction(47, 42), "general": Fraction(16, 13)},
    # (0.5/0.5 + 0.3/0.3)/2 = 1; 0.6/0.3 = 2 (it has no WS); no general task: no general score
    "eta05/tuned": {"held_in": Fraction(1), "held_out": Fraction(2)},
}


def write_run_dir(root: Path, run: str, models: dict[str, dict[str, dict[str, float]]]) -> Path:
    """A run dir as the eval stage leaves it: ``<root>/eval/<label>/scores.json`` per model."""
    for label, tasks in models.items():
        ModelScores(label, tasks, checkpoint=f"{root}/model", run=run).save(root / "eval" / label / "scores.json")
    return root


def write_inputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The two run dirs and the GPT-4 CSV."""
    demo = write_run_dir(tmp_path / "demo", "demo", {"tuned": A, "base": B})
    eta = write_run_dir(tmp_path / "eta05", "eta05", {"tuned": D})
    paper = tmp_path / "paper.csv"
    paper.write_text(GPT4_CSV)
    return demo, eta, paper


def assert_numbers(actual: Any, expected: Any) -> None:
    """Same nested dict keys (in any order) and numbers equal up to float rounding (1e-12)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), (actual, expected)
        for key, value in expected.items():
            assert_numbers(actual[key], value)
    else:
        assert math.isclose(actual, float(expected), rel_tol=1e-12), (actual, expected)
