"""Data pipeline throughput: our Ray Data mix + tokenize + mask + pack against a Hugging Face ``datasets.map``.

    .venv/bin/python bench/data_throughput.py [--records 40000] [--seq-len 4096] [--eta 0.2] [--num-proc 1 2]
        [--repeats 3] [--quick]

Corpus: AgentInstruct's DB trajectories as the agent data and the three general corpora of ../shared/data/general,
mixed at eta 0.2 like the paper; ``--records`` samples in all, the small sets repeated (upsampled) to fill them.
Tokenizer: the project's tiny byte-level BPE tokenizer with the Llama-2 chat template, built locally
(``train.tiny``, no download) unless ``--tokenizer`` names a checkpoint folder.

What is compared, on exactly the same rows and so the same tokens (the bench stops if the counts differ):

- ours: ``train.mix.build_mix`` end to end, as the mix stage calls it, on a local Ray with 2 CPUs: upsample,
  ``Dataset.mix``, shuffle, tokenize + mask a batch at a time (``train.masking.tokenize_conversations``), write the
  samples as Parquet, pack them into ``--seq-len`` sequences, write those, count what was written.
- baseline: what a Hugging Face user writes: ``Dataset.from_list`` of the same upsampled rows, a batched ``.map``
  (``num_proc`` processes, each value of ``--num-proc``) that tokenizes + masks each conversation with
  ``train.masking.tokenize_conversation``, ``.shuffle``; no packing and nothing written beyond what ``datasets``
  keeps itself. The tiny model's chat template (like Llama-2's) has no ``{% generation %}`` markers, so
  ``apply_chat_template(return_assistant_tokens_mask=True)`` cannot mask it: the baseline uses our per-record
  masking function, which gives exactly the ids and labels of the batched one (tests/train/test_masking_batch.py).
  The ratio is taken against the fastest baseline.
- reference (not a baseline; ``--no-reference`` leaves it out): the same ``datasets.map`` with the largest
  ``--num-proc`` calling our batched ``tokenize_conversations``: how much of the ratio is the batched masking
  (fewer chat-template renders and tokenizer calls per sample) and how much the pipeline around it.

Both sides are warmed up first (Ray's worker processes, imports). A repetition runs our pipeline and every baseline
once, the order reversed every other repetition; the ratio is taken within each repetition (the fastest baseline's
seconds over ours) and the table gives medians with min-max over ``--repeats`` repetitions, and the machine's load
average before and after. tokens/s: tokens of the tokenized samples (after truncation to ``--seq-len``) over each
pipeline's wall time. Packing efficiency: the share of real tokens in the packed ``--seq-len`` sequences
``build_mix`` writes. Padding efficiency: the same share with one sample per ``--seq-len`` row; dynamic padding:
samples padded to the longest of each batch of ``--pad-batch``. The last line is JSON. ``--quick``: one repetition
of at most 4,000 records.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench._stats, run from anywhere

from bench._stats import Load, alternate, check_repeats, show, spread  # noqa: E402
from train.formats import read_records  # noqa: E402
from train.masking import IGNORE_INDEX, tokenize_conversation, tokenize_conversations  # noqa: E402
from train.mix import PACK_WINDOW, build_mix, upsample  # noqa: E402
from train.packing import pack_table  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
AGENT = "agentinstruct/db.json"
GENERAL = ("general/sharegpt_identity.json", "general/alpaca_en_demo.json", "general/glaive_toolcall_en_demo.json")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=40_000, help="samples in the mix (both pipelines)")
    ap.add_argument("--seq-len", type=int, default=4096, help="packed sequence length (the paper's 4096)")
    ap.add_argument("--eta", type=float, default=0.2, help="agent share of the mix (the paper's 0.2)")
    ap.add_argument("--num-proc", type=int, nargs="+", default=[1, 2], help="datasets.map processes, one run each")
    ap.add_argument("--pad-batch", type=int, default=8, help="batch size of the dynamic-padding comparison")
    ap.add_argument("--warmup-records", type=int, default=256, help="samples of each pipeline's warm-up run; 0: none")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", type=Path, default=DATA, help="the shared data folder")
    ap.add_argument("--tokenizer", help="a tokenizer or checkpoint folder; default: build the tiny one in a temp dir")
    ap.add_argument("--repeats", type=int, default=3, help="repetitions of every pipeline (medians reported)")
    ap.add_argument("--quick", action="store_true", help="smoke run: one repetition, at most 4,000 records")
    ap.add_argument(
        "--no-reference", action="store_true", help="leave out datasets.map with our batched masking function"
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.records = 1, min(args.records, 4000)
    check_repeats(args.repeats, args.quick)

    agent, general = load_corpora(args.data_dir)
    load = Load()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    quiet_ray_data()
    try:
        with tempfile.TemporaryDirectory(prefix="data_throughput_") as d:
            tokenizer = args.tokenizer or str(tiny_tokenizer(Path(d) / "tiny"))
            result = measure(agent, general, args, tokenizer, Path(d), load)
    finally:
        ray.shutdown()
    result["load"] = load.summary()
    print_table(result, args, load)
    return result


def load_corpora(data_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The agent records and the general records (the three general corpora together), canonical."""
    agent, _ = read_records(data_dir / AGENT)
    general: list[dict[str, Any]] = []
    for rel in GENERAL:
        general += read_records(data_dir / rel)[0]
    return agent, general


def quiet_ray_data() -> None:
    """Keep Ray Data's progress bars, plans and notices out of the table (its log file still has them all)."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = ctx.print_on_execution_start = False
    for handler in logging.getLogger("ray.data").handlers:
        if not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.ERROR)


def tiny_tokenizer(out_dir: Path) -> Path:
    """The tiny checkpoint the demo pipeline starts from (its tokenizer trained on the default corpus)."""
    from train.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint(out_dir)


def measure(
    agent: list[dict[str, Any]],
    general: list[dict[str, Any]],
    args: argparse.Namespace,
    tokenizer: str,
    d: Path,
    load: Load,
) -> dict[str, Any]:
    """Run both pipelines on the same rows, ``--repeats`` times, and return rates, counts and layout efficiencies."""

    def ours(n: int, out: str) -> tuple[Any, float]:
        t = time.perf_counter()
        report = build_mix(
            agent,
            general,
            eta=args.eta,
            num_samples=n,
            tokenizer_path=tokenizer,
            seq_len=args.seq_len,
            out_dir=d / out,
            seed=args.seed,
        )
        return report, time.perf_counter() - t

    rows = same_rows(agent, general, args.eta, args.records, args.seed)
    if args.warmup_records:
        ours(args.warmup_records, "warmup")  # Ray's worker processes and their imports
        for num_proc in args.num_proc:
            baseline(rows[: args.warmup_records], tokenizer, args.seq_len, num_proc, args.seed)
    pipelines = ["ours", *(f"baseline_{p}" for p in args.num_proc)]
    reference = f"reference_{max(args.num_proc)}"
    if not args.no_reference:
        pipelines.append(reference)
    seconds: dict[str, list[float]] = {name: [] for name in pipelines}
    for rep in range(args.repeats):
        made = []
        for name in alternate(pipelines, rep):
            if name == "ours":
                report, took = ours(args.records, f"mix-{rep}")
            else:
                t = time.perf_counter()
                kind, num_proc = name.split("_")
                ds = baseline(rows, tokenizer, args.seq_len, int(num_proc), args.seed, batched=kind == "reference")
                took = time.perf_counter() - t
                made.append(ds)
            seconds[name].append(took)
            load.sample()
        for ds in made:  # every baseline run against this repetition's mix: same tokens, same trained tokens
            check_same_tokens(ds, report)
    lengths = ds["num_tokens"]
    tokens = sum(lengths)

    # The packer alone, in this process, on the baseline's shuffled samples, one window at a time as the stage's
    # UDF gets them: what packing costs without Ray Data and Parquet.
    table = ds.select_columns(["input_ids", "labels", "source"]).with_format("arrow")[:].combine_chunks()
    t = time.perf_counter()
    windows = range(0, table.num_rows, PACK_WINDOW)
    packed_rows = sum(pack_table(table.slice(i, PACK_WINDOW), args.seq_len).num_rows for i in windows)
    pack_s = time.perf_counter() - t

    # Per repetition: the fastest baseline of that repetition over ours.
    fastest = [min(seconds[f"baseline_{p}"][r] for p in args.num_proc) for r in range(args.repeats)]
    best = min(args.num_proc, key=lambda p: statistics.median(seconds[f"baseline_{p}"]))
    batches = [lengths[i : i + args.pad_batch] for i in range(0, len(lengths), args.pad_batch)]
    return {
        "tokens_per_s": tokens / statistics.median(seconds["ours"]),
        "baseline_tokens_per_s": tokens / statistics.median(fastest),
        "ratio": spread(b / o for b, o in zip(fastest, seconds["ours"], strict=True)),
        "ratio_to_reference": (
            spread(b / o for b, o in zip(seconds[reference], seconds["ours"], strict=True))
            if reference in seconds
            else None
        ),
        "rates": {name: spread(tokens / s for s in secs) for name, secs in seconds.items()},
        "packing_efficiency": report.packing_efficiency,
        "padding_efficiency": report.padding_efficiency,
        "dynamic_padding_efficiency": tokens / sum(max(b) * len(b) for b in batches),
        "baseline_num_proc": best,
        "records": args.records,
        "repeats": args.repeats,
        "tokens": {"ours": report.tokens, "baseline": tokens},
        "loss_tokens": report.loss_tokens,
        "seconds": {name: spread(secs) for name, secs in seconds.items()} | {"packer_only": pack_s},
        "rows": len(ds),
        "packed_rows": report.packed_rows,
        "packer_only_rows": packed_rows,
        "packer_only_efficiency": tokens / max(1, packed_rows * args.seq_len),
        "truncated": report.truncated,
        "achieved_eta": report.achieved_eta,
        "seq_len": args.seq_len,
    }


def check_same_tokens(ds: Any, report: Any) -> None:
    """Stop when the two pipelines tokenized different data: the comparison would not be fair."""
    tokens, loss_tokens = sum(ds["num_tokens"]), sum(ds["num_loss_tokens"])
    if (tokens, loss_tokens) != (report.tokens, report.loss_tokens):
        sys.exit(
            f"the pipelines tokenized different data: ours {report.tokens} tokens ({report.loss_tokens} trained), "
            f"datasets.map {tokens} ({loss_tokens}); the comparison would not be fair"
        )


def same_rows(
    agent: list[dict[str, Any]], general: list[dict[str, Any]], eta: float, n: int, seed: int
) -> list[dict[str, Any]]:
    """The rows ``build_mix`` mixes: the same counts and upsampling seeds (the token check catches any drift)."""
    n_agent = max(1, round(eta * n))
    agent_rows = [{**r, "source": "agent"} for r in upsample(agent, n_agent, seed)]
    return agent_rows + [{**r, "source": "general"} for r in upsample(general, n - n_agent, seed + 1)]


def baseline(
    rows: list[dict[str, Any]], tokenizer_path: str, seq_len: int, num_proc: int, seed: int, batched: bool = False
) -> Any:
    """The Hugging Face way: a ``datasets.Dataset``, a batched ``.map`` that tokenizes + masks, a shuffle
    (``batched``: the reference, with our batched masking function)."""
    from datasets import Dataset, disable_progress_bars
    from transformers import AutoTokenizer

    disable_progress_bars()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    ds = Dataset.from_list(rows).map(
        _tokenize_batch_at_once if batched else _tokenize_batch,
        batched=True,
        num_proc=num_proc if num_proc > 1 else None,
        fn_kwargs={"tokenizer": tokenizer, "seq_len": seq_len},
        remove_columns=["conversations"],
    )
    return ds.shuffle(seed=seed)


def _tokenize_batch(batch: dict[str, list[Any]], tokenizer: Any, seq_len: int) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"input_ids": [], "labels": [], "num_tokens": [], "num_loss_tokens": []}
    for conversation in batch["conversations"]:
        enc = tokenize_conversation(tokenizer, conversation, seq_len)
        out["input_ids"].append(enc["input_ids"])
        out["labels"].append(enc["labels"])
        out["num_tokens"].append(len(enc["input_ids"]))
        out["num_loss_tokens"].append(sum(x != IGNORE_INDEX for x in enc["labels"]))
    return out


def _tokenize_batch_at_once(batch: dict[str, list[Any]], tokenizer: Any, seq_len: int) -> dict[str, list[Any]]:
    encs = tokenize_conversations(tokenizer, batch["conversations"], seq_len)
    return {
        "input_ids": [e["input_ids"] for e in encs],
        "labels": [e["labels"] for e in encs],
        "num_tokens": [len(e["input_ids"]) for e in encs],
        "num_loss_tokens": [sum(x != IGNORE_INDEX for x in e["labels"]) for e in encs],
    }


def print_table(r: dict[str, Any], args: argparse.Namespace, load: Load) -> None:
    tokens = r["tokens"]["ours"]
    title = f"pipeline ({r['rows']} samples, same tokens; medians (min-max) of {r['repeats']})"
    print(f"{title:<64} {'tokens':>11} {'seconds':>18} {'tokens/s':>24}")
    lines = [("ours: build_mix (Ray Data, 2 CPUs) mix+tokenize+mask+pack", "ours")]
    lines += [(f"baseline: datasets.map tokenize+mask, num_proc={p}", f"baseline_{p}") for p in args.num_proc]
    if r["ratio_to_reference"] is not None:
        lines += [
            (
                f"reference: the same, our batched masking, num_proc={max(args.num_proc)}",
                f"reference_{max(args.num_proc)}",
            )
        ]
    for name, key in lines:
        print(f"{name:<64} {tokens:>11} {show(r['seconds'][key], '{:.2f}'):>18} {show(r['rates'][key], '{:.0f}'):>24}")
    pack_s = r["seconds"]["packer_only"]
    print(
        f"{'  packing alone (train.packing.pack_table, in process)':<64} {tokens:>11} {pack_s:>18.2f} "
        f"{tokens / pack_s:>24.0f}"
    )
    print(
        f"ratio ours / fastest baseline, per repetition: {show(r['ratio'], '{:.2f}')}   "
        f"achieved eta {r['achieved_eta']:.3f}   truncated {r['truncated']}"
    )
    if r["ratio_to_reference"] is not None:
        print(
            f"ratio ours / reference (same masking function on both sides): {show(r['ratio_to_reference'], '{:.2f}')}"
        )
    print(load.line())
    print(f"\n{'layout, seq_len ' + str(args.seq_len):<64} {'rows':>11} {'non-pad':>8}")
    for name, rows, share in (
        ("packed: build_mix's written sequences", r["packed_rows"], r["packing_efficiency"]),
        ("packed: pack_table over the baseline's order", r["packer_only_rows"], r["packer_only_efficiency"]),
        ("padded to seq_len, one sample per row", r["rows"], r["padding_efficiency"]),
        (f"padded to the longest of each batch of {args.pad_batch}", r["rows"], r["dynamic_padding_efficiency"]),
    ):
        print(f"{name:<64} {rows:>11} {share:>8.1%}")
    keys = ("tokens_per_s", "baseline_tokens_per_s", "ratio", "ratio_to_reference", "packing_efficiency")
    keys += ("padding_efficiency",)
    extra = ("dynamic_padding_efficiency", "baseline_num_proc", "records", "repeats", "tokens", "seconds", "seq_len")
    print(json.dumps({k: _round(r[k]) for k in (*keys, *extra, "load")}))


def _round(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 4)
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    return v


if __name__ == "__main__":
    main()
