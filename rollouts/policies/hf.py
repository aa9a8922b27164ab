"""A local Hugging Face causal LM as the policy: how a tuned checkpoint is evaluated.

Greedy decoding by default so evaluations are repeatable; the prompt is rendered
with the checkpoint's own chat template, as in training.
"""

from __future__ import annotations

from envs.base import Task
from rollouts.errors import PolicyConfigError
from rollouts.policies.base import Message, Policy


class HFPolicy(Policy):
    kind = "hf"

    def __init__(
        self,
        model: str,
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        max_context: int | None = None,
        device: str | None = None,
        seed: int = 0,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # one bar per actor would garble the driver's progress bar

        if not model:
            raise PolicyConfigError("rollout.policy.model: the hf policy needs a checkpoint path or hub id")
        self._name = model
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        if self.tokenizer.chat_template is None:
            raise PolicyConfigError(f"{model}: the tokenizer has no chat template; use a chat/instruct checkpoint")
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.lm = AutoModelForCausalLM.from_pretrained(model, dtype=dtype)
        self.lm.to(self.device).eval()
        self.max_context = max_context or int(getattr(self.lm.config, "max_position_embeddings", 4096))
        self._generator = torch.Generator(device=self.device).manual_seed(seed)

    @property
    def model(self) -> str:
        return self._name

    def act(self, messages: list[Message], *, task: Task) -> str:
        import torch

        from rollouts.episode import ContextLimitError

        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        if not isinstance(ids, torch.Tensor):  # newer transformers return a BatchEncoding
            ids = ids["input_ids"]
        if ids.shape[-1] + self.max_new_tokens > self.max_context:
            raise ContextLimitError(
                f"prompt of {ids.shape[-1]} tokens + {self.max_new_tokens} new tokens exceeds the "
                f"{self.max_context}-token context of {self._name}"
            )
        ids = ids.to(self.device)
        sample = self.temperature > 0
        with torch.no_grad():
            out = self.lm.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=self.max_new_tokens,
                do_sample=sample,
                temperature=self.temperature if sample else None,
                top_p=None,
                top_k=None,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            )
        return self.tokenizer.decode(out[0, ids.shape[-1] :], skip_special_tokens=True).strip()

    def close(self) -> None:
        self.lm = None
