"""FLOPs per token from a model config, counted by hand for the tiny Llama; peaks and MFU."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from train.batches import collate
from train.loop import attended_keys
from train.mfu import flops_per_token, known_gpu_peak, matmul_params, mfu, model_flops, peak_tflops

# The tiny model of tests/conftest.py (train/tiny.py defaults): width 64, 2 layers, 4 heads, MLP 4x, 2048 tokens.
TINY = LlamaConfig(
    vocab_size=2048,
    hidden_size=64,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=4,
)


def test_matmul_params_of_the_tiny_llama_by_hand():
    attention = 4 * 64 * 64  # q, k, v, o: 64 -> 64 each
    mlp = 3 * 64 * 256  # gate and up 64 -> 256, down 256 -> 64
    lm_head = 64 * 2048  # the input embedding is a lookup and does not count
    assert matmul_params(TINY) == 2 * (attention + mlp) + lm_head == 262_144


def test_matmul_params_equal_the_models_linear_weights():
    for config in (TINY, LlamaConfig(**TINY.to_diff_dict() | {"num_key_value_heads": 2, "head_dim": 8})):
        model = LlamaForCausalLM(config)
        linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
        assert matmul_params(config) == linear


def test_flops_per_token_by_hand():
    # 6 N for the weights; attention 2 layers x 12 x d_attn (64) per attended key.
    assert flops_per_token(TINY, context=0) == 6 * 262_144
    assert flops_per_token(TINY, context=128.5) == 6 * 262_144 + 2 * 12 * 64 * 128.5
    # A full causal sequence of 256 tokens attends 256 * 257 / 2 keys in all.
    assert model_flops(TINY, 256, 256 * 257 / 2) == 256 * flops_per_token(TINY, context=257 / 2)


def test_attended_keys_restart_with_each_packed_sample_and_skip_padding():
    packed = [{"input_ids": [5] * 5, "labels": [5] * 5, "position_ids": [0, 1, 2, 0, 1], "source_ids": [1] * 5}]
    assert attended_keys(collate(packed, 0, packed=True)) == (1 + 2 + 3) + (1 + 2)  # 8 columns, 3 of padding
    rows = [{"input_ids": [5] * 3, "labels": [5] * 3}, {"input_ids": [5], "labels": [5]}]
    assert attended_keys(collate(rows, 0, packed=False, width=16)) == (1 + 2 + 3) + 1


def test_collate_pads_to_the_requested_width():
    batch = collate([{"input_ids": [5] * 3, "labels": [5] * 3}], 0, packed=False, width=16)
    assert batch["input_ids"].shape == (1, 16) and batch["real_tokens"].sum() == 3
    assert collate([{"input_ids": [5] * 3, "labels": [5] * 3}], 0, packed=False)["input_ids"].shape == (1, 8)


def test_peaks():
    assert known_gpu_peak("NVIDIA H100 80GB HBM3") == 989.0
    assert known_gpu_peak("NVIDIA H100 PCIe") == 756.0
    assert known_gpu_peak("NVIDIA H200") == 989.0
    assert known_gpu_peak("NVIDIA A100-SXM4-80GB") == 312.0
    assert known_gpu_peak("NVIDIA L40S") == 362.0
    assert known_gpu_peak("Tesla T4") is None
    assert peak_tflops(2.5, use_gpu=False) == 2.5  # the config key wins, on CPU too
    assert peak_tflops(None, use_gpu=False) is None  # no CPU table: MFU needs the key


def test_mfu_is_achieved_over_peak_flops_of_all_workers():
    assert mfu(4e12, seconds=2.0, peak=1.0, world=2) == pytest.approx(1.0)
    assert mfu(1e12, seconds=1.0, peak=None, world=1) is None
