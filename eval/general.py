"""General ability, the paper's third column: a held-out loss that always runs, and benchmarks by name.

    records = read_heldout(run / "mix" / HELDOUT_FILE)           # train.heldout: never mixed, never trained on
    heldout = heldout_metrics("runs/x/model", records)            # {"loss", "perplexity", "token_accuracy", "tokens"}
    results = run_lm_eval(cfg.eval.general, model_path="runs/x/model", output_dir=run / "eval" / "tuned")
    scores = {task: headline(r)[1] for task, r in results.items()}  # ModelScores.tasks["general"]
    mlf.log_metrics(general_metrics(results, heldout=heldout))  # eval/general/mmlu/acc, eval/general/heldout/loss

The held-out check needs nothing but the checkpoint and the mix's held-out slice, so it runs offline on any
machine. Benchmarks go through lm-evaluation-harness (``lm_eval.simple_evaluate``); their datasets come from the
hub, or from the Hugging Face cache when offline.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
import math
import os
import re
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from eval.config import GeneralEvalConfig
from eval.errors import EvalError
from rollouts.records import write_json_atomic

LM_EVAL_RESULTS_FILE = "lm_eval_results.json"  # in output_dir: lm-eval's full results, one entry per task
# The headline metric of a benchmark: the first of these it reports (lm-eval's metric names; HumanEval's is
# pass_at_k, MBPP's pass_at_1). Among one metric's filters, strict-match comes first, then none, then the rest
# by name. A task that reports none of them gets its first reported metric.
HEADLINE_METRICS = (
    "acc",
    "exact_match",
    "pass@1",
    "pass_at_1",
    "pass_at_k",
    "prompt_level_strict_acc",
    "acc_norm",
    "f1",
    "em",
    "mc2",
    "score",
)
FILTER_ORDER = ("strict-match", "none")
LOGLIKELIHOOD_TYPES = ("loglikelihood", "loglikelihood_rolling", "multiple_choice")
_MLFLOW_UNSAFE = re.compile(r"[^A-Za-z0-9_.\- ]")  # MLflow names allow these and '/', which separates our parts


# ----------------------------------------------------------------------------- held-out loss


def heldout_metrics(
    model_path: str,
    records: list[dict[str, Any]],
    *,
    seq_len: int = 2048,
    batch_size: int = 8,
    device: str | None = None,
) -> dict[str, float]:
    """Loss, perplexity and next-token accuracy of ``model_path`` on the trained tokens of ``records``.

    Each record is rendered and masked exactly as training does (``train.masking.tokenize_conversation``, cut at
    ``seq_len``): only assistant tokens count. ``loss`` is the token-level mean cross-entropy over all of them
    (every token weighs the same, as in ``train/loss``), ``perplexity`` is exp(loss), ``token_accuracy`` the share
    the model predicts greedily, ``tokens`` how many were scored. bf16 on CUDA, fp32 on CPU; no sampling, so a
    rerun gives the same numbers.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from train.errors import MaskingError
    from train.masking import IGNORE_INDEX, tokenize_conversation

    if not records:
        raise EvalError("heldout_metrics: no held-out records; set eval.general.heldout_records > 0 and re-run mix")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    rows = []
    for r in records:
        try:
            rows.append(tokenize_conversation(tokenizer, r["conversations"], seq_len))
        except MaskingError as e:
            raise EvalError(f"held-out record {r.get('id')!r}: {e} (tokenizer of {model_path})") from e
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype).to(device).eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    # Longest first, so a batch pads little; the order is fixed, so the sums are too.
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]["input_ids"]))
    loss_sum, correct, tokens = 0.0, 0, 0
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = [rows[i] for i in order[start : start + batch_size]]
            width = max(len(r["input_ids"]) for r in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for b, r in enumerate(batch):
                n = len(r["input_ids"])
                ids[b, :n] = torch.tensor(r["input_ids"])
                labels[b, :n] = torch.tensor(r["labels"])
                mask[b, :n] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            target = labels[:, 1:].to(device)
            trained = target != IGNORE_INDEX
            # Only the trained positions go to fp32: all of them would be batch x seq_len x vocab floats.
            scored = logits[:, :-1][trained].float()
            wanted = target[trained]
            loss_sum += torch.nn.functional.cross_entropy(scored, wanted, reduction="sum").double().item()
            correct += int((scored.argmax(-1) == wanted).sum().item())
            tokens += int(trained.sum().item())
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    if not tokens:
        raise EvalError(
            f"none of the {len(records)} held-out records has an assistant token within the first {seq_len} "
            "tokens; raise seq_len (train.seq_len)"
        )
    loss = loss_sum / tokens
    perplexity = math.exp(loss) if loss < 700 else math.inf  # exp overflows a float past ~709
    return {"loss": loss, "perplexity": perplexity, "token_accuracy": correct / tokens, "tokens": float(tokens)}


# ----------------------------------------------------------------------------- lm-evaluation-harness


def run_lm_eval(
    cfg: GeneralEvalConfig,
    *,
    model_path: str | None = None,
    endpoint: str | None = None,
    tokenizer_path: str | None = None,
    served_model: str | None = None,
    output_dir: Path | None = None,
    device: str | None = None,
) -> dict[str, dict[str, float]]:
    """Run the benchmarks ``cfg.tasks`` on one model; return ``task -> {lm-eval metric key: value}``.

    Give one of:

    - ``model_path``: a checkpoint run in this process by lm-eval's ``hf`` model (bf16 on CUDA, fp32 on CPU,
      ``cfg.batch_size``). Every task type works: multiple choice and other loglikelihood tasks (MMLU) and
      generation (GSM8K, HumanEval).
    - ``endpoint``: an OpenAI-compatible base URL (``http://host:port/v1``) served by vLLM or ``transformers
      serve``, through lm-eval's ``local-completions`` model (text prompts, ``cfg.batch_size`` requests in flight).
      ``served_model`` is the name it serves (None: the first of its ``/models``). Generation tasks work with
      both servers. Loglikelihood tasks (MMLU, any ``multiple_choice``) need the prompt's log-probabilities
      (``echo`` + ``logprobs``), which vLLM returns and ``transformers serve`` does not (an EvalError says so), and
      ``tokenizer_path``, the model's tokenizer, to find where the answer starts.

    Each task runs as its own ``simple_evaluate`` call with ``cfg.num_fewshot[task]`` (None: the task's own),
    ``cfg.limit``, and the model built once. The configured name is the key of the result; a tag (a name for
    several tasks with no aggregate) reports each of its tasks instead. With ``output_dir``, lm-eval's full
    results of every task are written to ``output_dir/lm_eval_results.json``.
    """
    if not cfg.tasks:
        return {}
    if (model_path is None) == (endpoint is None):
        raise ValueError("run_lm_eval: give model_path or endpoint (one of them)")
    unknown = sorted(set(cfg.num_fewshot) - set(cfg.tasks))
    if unknown:
        raise EvalError(
            f"eval.general.num_fewshot: {', '.join(unknown)} is not in eval.general.tasks ({', '.join(cfg.tasks)}); "
            "use the task names as listed there"
        )
    manager = _task_manager(cfg.include_path)
    for name in cfg.tasks:
        _check_task_name(manager, name, cfg.include_path)
    loaded = {name: _load_task(manager, name, cfg.allow_code_execution) for name in cfg.tasks}
    if endpoint is not None:
        served_model = served_model or _served_model(endpoint)
        if any(_output_types(tasks) & set(LOGLIKELIHOOD_TYPES) for tasks in loaded.values()):
            _check_prompt_logprobs(endpoint, served_model, tokenizer_path)
    lm = _make_lm(cfg, model_path, endpoint, tokenizer_path, served_model, device)
    results: dict[str, dict[str, float]] = {}
    full: dict[str, Any] = {}
    try:
        with _code_eval_allowed(cfg.allow_code_execution):
            for name, tasks in loaded.items():
                out = _evaluate(lm, tasks, cfg, name, manager)
                full[name] = json.loads(json.dumps(out, default=_jsonable))
                results |= _task_results(name, out, tasks)
    finally:
        del lm
        _free_cuda()
    if output_dir is not None:
        write_json_atomic(Path(output_dir) / LM_EVAL_RESULTS_FILE, full)
    return results


def headline(task_results: Mapping[str, float]) -> tuple[str, float]:
    """The benchmark's headline ``(lm-eval metric key, value)``: see ``HEADLINE_METRICS`` for the rule."""
    metrics = {k: v for k, v in task_results.items() if not _is_stderr(k)}
    if not metrics:
        raise EvalError(f"no metric to report among {sorted(task_results)}")
    for metric in HEADLINE_METRICS:
        keys = [k for k in metrics if k.partition(",")[0] == metric]
        if keys:
            best = min(keys, key=lambda k: (_filter_rank(k.partition(",")[2]), k.partition(",")[2]))
            return best, metrics[best]
    first = next(iter(metrics))
    return first, metrics[first]


def general_metrics(
    task_results: Mapping[str, Mapping[str, float]], *, heldout: Mapping[str, float] | None = None
) -> dict[str, float]:
    """MLflow metrics ``eval/general/<task>/<metric>``: lm-eval's ``acc,none`` -> ``acc``, ``exact_match,
    strict-match`` -> ``exact_match_strict-match``, ``pass@1`` -> ``pass_at_1``; stderr values are dropped.
    ``heldout`` (``heldout_metrics``) adds ``eval/general/heldout/<loss|perplexity|token_accuracy|tokens>``."""
    out: dict[str, float] = {}
    for task, metrics in task_results.items():
        names: dict[str, str] = {}
        for key, value in metrics.items():
            if _is_stderr(key):
                continue
            metric, _, filt = key.partition(",")
            name = _mlflow_part(metric if filt in ("", "none") else f"{metric}_{filt}")
            if name in names:
                raise EvalError(f"{task}: lm-eval metrics {names[name]!r} and {key!r} would both be logged as {name}")
            names[name] = key
            out[f"eval/general/{_mlflow_part(task)}/{name}"] = float(value)
    for key, value in (heldout or {}).items():
        out[f"eval/general/heldout/{key}"] = float(value)
    return out


# ----------------------------------------------------------------------------- helpers


@functools.lru_cache(maxsize=4)
def _task_manager(include_path: str | None) -> Any:
    """lm-eval's task index (its ~15,000 YAMLs take seconds to scan): once per include_path and process."""
    from lm_eval.tasks import TaskManager

    if include_path is not None and not Path(include_path).is_dir():
        raise EvalError(f"eval.general.include_path: {include_path} is not a folder; point it at your task YAMLs")
    return TaskManager(include_path=include_path)


def _check_task_name(manager: Any, name: str, include_path: str | None) -> None:
    if name in manager.all_tasks:
        return
    close = difflib.get_close_matches(name, manager.all_tasks, n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    where = f"lm-eval {_lm_eval_version()}" + (f" or {include_path}" if include_path else "")
    raise EvalError(
        f"eval.general.tasks: unknown task {name!r} (not in {where}); {hint}"
        "`lm-eval ls tasks` lists them, and eval.general.include_path adds your own YAMLs"
    )


def _load_task(manager: Any, name: str, allow_code_execution: bool) -> list[Any]:
    """The task (or group, or a tag's tasks) ``name`` with its dataset loaded; dataset faults name the task."""
    try:
        loaded = manager.load([name])
    except ModuleNotFoundError as e:
        raise EvalError(
            f"eval.general.tasks: task {name!r} needs the Python package {e.name}: pip install {e.name}"
        ) from None
    except ConnectionError as e:
        raise EvalError(
            f"eval.general.tasks: task {name!r}: its dataset is not in the Hugging Face cache and the hub cannot be "
            f"reached ({_first_line(e)}); run once online to cache it (HF_HUB_OFFLINE=0, HF_DATASETS_OFFLINE=0), "
            "or point HF_HOME at a cache that has it"
        ) from None
    except OSError as e:  # a dataset or file that does not exist, a gated dataset without a token
        raise EvalError(
            f"eval.general.tasks: task {name!r}: cannot load its dataset ({_first_line(e)}); check the task's "
            "dataset_path, or set HF_TOKEN for a gated dataset"
        ) from None
    tasks = [loaded["groups"][name]] if name in loaded["groups"] else list(loaded["tasks"].values())
    unsafe = [t for t in loaded["tasks"] if getattr(loaded["tasks"][t], "UNSAFE_CODE", False)]
    if unsafe and not allow_code_execution:
        raise EvalError(
            f"eval.general.tasks: task {name!r} runs model-written code ({', '.join(unsafe)}); set "
            "eval.general.allow_code_execution=true to allow it (on a machine where that is safe), or remove it"
        )
    return tasks


def _evaluate(lm: Any, tasks: list[Any], cfg: GeneralEvalConfig, name: str, manager: Any) -> dict[str, Any]:
    from lm_eval import simple_evaluate

    out = simple_evaluate(
        model=lm,
        tasks=tasks,
        num_fewshot=cfg.num_fewshot.get(name),
        limit=cfg.limit,
        task_manager=manager,
        log_samples=False,
        confirm_run_unsafe_code=cfg.allow_code_execution,
    )
    if out is None:  # only a non-zero rank of a distributed run gets None; this process is rank 0
        raise EvalError(f"lm-eval returned no results for task {name!r}")
    return out


def _task_results(name: str, out: dict[str, Any], tasks: list[Any]) -> dict[str, dict[str, float]]:
    """``name`` -> its numeric metrics; for a tag without an aggregate, each of its tasks by its own name."""
    table = out["results"]
    own = _numeric(table.get(name, {}))
    if own:
        return {name: own}
    members = {t.task_name for t in tasks if hasattr(t, "task_name")}
    found = {task: m for task in sorted(members) if (m := _numeric(table.get(task, {})))}
    if not found:
        raise EvalError(f"lm-eval reported no metric for task {name!r} (results for {sorted(table)})")
    return found


def _make_lm(
    cfg: GeneralEvalConfig,
    model_path: str | None,
    endpoint: str | None,
    tokenizer_path: str | None,
    served_model: str | None,
    device: str | None,
) -> Any:
    from lm_eval.api.registry import get_model

    if model_path is not None:
        import torch

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
        args = {"pretrained": model_path, "dtype": dtype, "device": device, "batch_size": cfg.batch_size}
        return get_model("hf").create_from_arg_obj(args)
    args = {
        "model": served_model,
        "base_url": endpoint.rstrip("/") + "/completions",
        "tokenizer": tokenizer_path,
        # Our own tokenizer or none: "auto" would ask the server, then fall back to downloading `model` by name.
        "tokenizer_backend": "huggingface" if tokenizer_path else "none",
        "tokenized_requests": False,  # text prompts: transformers serve takes no token ids
        "num_concurrent": cfg.batch_size,
        "max_retries": 3,
    }
    return get_model("local-completions").create_from_arg_obj(args)


def _served_model(endpoint: str) -> str:
    """The first model the server at ``endpoint`` lists under ``/models``."""
    url = endpoint.rstrip("/") + "/models"
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            models = [m["id"] for m in json.load(r).get("data", [])]
    except (OSError, ValueError, KeyError) as e:
        raise EvalError(f"cannot list the models served at {url} ({e}); is the server up at that address?") from e
    if not models:
        raise EvalError(f"{url} lists no model; start the server with the checkpoint to evaluate")
    return models[0]


def _check_prompt_logprobs(endpoint: str, model: str, tokenizer_path: str | None) -> None:
    """Loglikelihood tasks read the prompt's log-probabilities; ask for them once before the long run."""
    if tokenizer_path is None:
        raise EvalError(
            "eval.general.tasks: loglikelihood tasks (multiple choice) through an endpoint need the model's "
            "tokenizer: pass tokenizer_path, or evaluate the checkpoint in-process (model_path)"
        )
    url = endpoint.rstrip("/") + "/completions"
    body = {"model": model, "prompt": "Hello world", "max_tokens": 1, "echo": True, "logprobs": 1, "temperature": 0}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            logprobs = json.load(r)["choices"][0].get("logprobs") or {}
    except (OSError, ValueError, KeyError, IndexError) as e:
        raise EvalError(f"the completions endpoint {url} failed a test request ({e}); is the server up?") from e
    if not isinstance(logprobs.get("token_logprobs"), list) or not isinstance(logprobs.get("top_logprobs"), list):
        raise EvalError(
            f"the server at {endpoint} returns no prompt log-probabilities (echo + logprobs), which loglikelihood "
            "tasks (multiple choice: MMLU, ...) in eval.general.tasks need; serve the model with vLLM, evaluate it "
            "in-process (model_path), or keep only generation tasks"
        )


@contextlib.contextmanager
def _code_eval_allowed(allowed: bool) -> Iterator[None]:
    """HF evaluate's code_eval metric (HumanEval) refuses to run unless HF_ALLOW_CODE_EVAL=1: set it only while
    the tasks run, and only when the config allows model-written code to run."""
    before = os.environ.get("HF_ALLOW_CODE_EVAL")
    if allowed:
        os.environ["HF_ALLOW_CODE_EVAL"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HF_ALLOW_CODE_EVAL", None)
        else:
            os.environ["HF_ALLOW_CODE_EVAL"] = before


def _output_types(tasks: list[Any]) -> set[str]:
    leaves = [leaf for t in tasks for leaf in (t.get_all_tasks() if hasattr(t, "get_all_tasks") else [t])]
    return {leaf.OUTPUT_TYPE for leaf in leaves}


def _numeric(entry: Mapping[str, Any]) -> dict[str, float]:
    return {
        k: float(v) for k, v in entry.items() if "," in k and isinstance(v, int | float) and not isinstance(v, bool)
    }


def _is_stderr(key: str) -> bool:
    return key.partition(",")[0].endswith("_stderr")


def _filter_rank(filt: str) -> int:
    return FILTER_ORDER.index(filt) if filt in FILTER_ORDER else len(FILTER_ORDER)


def _mlflow_part(name: str) -> str:
    return _MLFLOW_UNSAFE.sub("_", name.replace("@", "_at_"))


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:300]


def _jsonable(o: Any) -> Any:
    from lm_eval.utils import handle_non_serializable

    return handle_non_serializable(o)


def _lm_eval_version() -> str:
    from importlib.metadata import version

    return version("lm_eval")


def _free_cuda() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
