"""Model FLOPs and MFU (model FLOPs utilisation) of a decoder-only transformer, from its config alone.

    flops = model_flops(model.config, tokens=4096, keys=2_100_000)   # one step's real tokens and attended keys
    mfu = flops / step_time_s / (peak_tflops(cfg) * 1e12 * world)

Training FLOPs (forward + backward, the backward costing twice the forward) of ``T`` real tokens that
together attend ``K`` key positions:

    FLOPs = 6 * N * T  +  12 * L * d_attn * K

* ``N`` counts the weights used in matrix multiplies per token: per layer the q/k/v/o projections
  (``d*d_attn + 2*d*d_kv + d_attn*d``) and the MLP (``3*d*d_ff`` for a gated MLP such as Llama's,
  ``2*d*d_ff`` otherwise), plus the output projection ``d*V``. The input embedding is a lookup, not a
  multiply, and is not counted (a tied embedding is counted once, as the output projection). Norms,
  biases, rotary embeddings and the softmax are left out: below 1% at any useful size. Dense models only
  (a mixture of experts would count its active experts).
* Attention: per layer and per query, ``Q K^T`` and ``softmax(.) V`` cost ``2 * d_attn`` FLOPs each per key
  attended, so ``4 * d_attn`` forward and ``12 * d_attn`` for training. ``K`` is the exact count of keys
  attended under the causal mask: a token at position ``p`` of its sample attends ``p + 1`` keys. Packed
  samples attend only within themselves, so ``K`` sums positions restarting per sample, and padding attends
  nothing (the kernel may compute those products; they are not model FLOPs).

This is PaLM's definition (appendix B) with the attention term counted exactly under the causal mask
instead of as ``T`` keys per token: a sequence of length ``T`` has ``K = T (T + 1) / 2``, so
``flops_per_token(config, context=(T + 1) / 2)`` gives the per-token figure. Gradient checkpointing's
recomputed forward is not counted (that would be hardware FLOPs utilisation).
"""

from __future__ import annotations

from typing import Any

# Dense (no sparsity) bf16/fp16 tensor-core peaks in TFLOP/s, from NVIDIA's data sheets. Checked in order:
# the more specific names first. fp32 training on these runs on slower units, so its MFU reads low.
GPU_PEAK_TFLOPS = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H200 NVL", 835.0),
    ("GH200", 989.0),
    ("H100", 989.0),  # SXM
    ("H200", 989.0),  # SXM
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
)

# Families whose MLP multiplies by three matrices (gate, up, down); others by two.
GATED_MLP = {"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "olmo", "olmo2", "granite"}


def matmul_params(config: Any) -> int:
    """Weights used in a matrix multiply per token (``N`` above), from a Hugging Face decoder config."""
    d, layers, vocab = config.hidden_size, config.num_hidden_layers, config.vocab_size
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or d // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    d_attn, d_kv = heads * head_dim, kv_heads * head_dim
    d_ff = getattr(config, "intermediate_size", None) or 4 * d
    gated = getattr(config, "model_type", "") in GATED_MLP or getattr(config, "hidden_act", "") in ("silu", "swish")
    attn = d * d_attn + 2 * d * d_kv + d_attn * d
    mlp = (3 if gated else 2) * d * d_ff
    return layers * (attn + mlp) + d * vocab


def attention_dim(config: Any) -> int:
    """``d_attn``: query heads x head size (the width of the attention products)."""
    heads = config.num_attention_heads
    return heads * (getattr(config, "head_dim", None) or config.hidden_size // heads)


def model_flops(config: Any, tokens: float, keys: float) -> float:
    """Training FLOPs for ``tokens`` real tokens attending ``keys`` key positions in all (see the module doc)."""
    return 6 * matmul_params(config) * tokens + 12 * config.num_hidden_layers * attention_dim(config) * keys


def flops_per_token(config: Any, context: float) -> float:
    """Training FLOPs per token when each token attends ``context`` keys on average."""
    return model_flops(config, 1, context)


def peak_tflops(configured: float | None, use_gpu: bool) -> float | None:
    """Peak TFLOP/s of one worker: ``train.peak_tflops_per_worker`` if set, else the GPU table, else None.

    On CPU there is no table (peaks vary too much by core count and vector unit), so MFU needs the key.
    """
    if configured:
        return configured
    if not use_gpu:
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    return known_gpu_peak(torch.cuda.get_device_name())


def known_gpu_peak(name: str) -> float | None:
    """The dense bf16 peak of a GPU by its device name ("NVIDIA H100 80GB HBM3"), or None if unknown."""
    return next((v for k, v in GPU_PEAK_TFLOPS if k in name), None)


def mfu(flops: float, seconds: float, peak: float | None, world: int) -> float | None:
    """Achieved FLOP/s over the peak of all ``world`` workers; None without a peak."""
    if not peak or seconds <= 0:
        return None
    return flops / seconds / (peak * 1e12 * world)
