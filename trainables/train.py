"""The training recipe of one trial, free of Ray and MLflow: train an epoch, evaluate, save and restore state."""

from __future__ import annotations

import contextlib
import math
import random
import resource
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import get_scheduler

from trainables.chunked_loss import causal_lm_of, packed_loss_sum
from trainables.data import Example, batches, count_batches
from trainables.lora_dropout import use_sixteen_bit_dropout
from trainables.microbatch import micro_batch_tokens
from trainables.packing import PackedBatch, micro_batches, pack
from trainables.precision import compute_precision
from trainables.settings import TrialSettings
from trainables.varlen_attention import use_varlen_attention

STATE_FILE = "trainer_state.pt"


@dataclass
class Progress:
    """What a checkpoint must carry so a restored trial continues instead of starting over."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    train_seconds: float = 0.0
    train_tokens: int = 0
    energy_train_wh: float = 0.0
    energy_eval_wh: float = 0.0
    last_train_loss: float = float("nan")


class LoraTrainer:
    def __init__(
        self,
        model: torch.nn.Module,
        settings: TrialSettings,
        train_examples: list[Example],
        val_examples: list[Example],
        pad_id: int,
        device: torch.device,
        seed: int,
    ):
        if not train_examples:
            raise ValueError("no training examples fit max_seq_len")
        self.model = model
        self.settings = settings
        self.train_examples = train_examples
        self.val_examples = val_examples
        self.pad_id = pad_id
        self.device = device
        self.seed = seed
        self.progress = Progress()
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            params, lr=settings.learning_rate, weight_decay=settings.weight_decay
        )
        steps_per_epoch = math.ceil(
            count_batches(len(train_examples), settings.batch_size) / settings.grad_accum
        )
        total = steps_per_epoch * settings.epochs
        self.scheduler = get_scheduler(
            settings.scheduler,
            self.optimizer,
            num_warmup_steps=int(settings.warmup_ratio * total),
            num_training_steps=total,
        )
        # bitsandbytes repacks 4-bit weights in place on the first CPU forward under no_grad, after which
        # training fails ("a view of a leaf Variable ..."); evaluate with autograd on there instead.
        self._eval_grad_mode = settings.quantization == "nf4" and device.type == "cpu"
        causal_lm = causal_lm_of(model)
        if settings.gradient_checkpointing:
            # Non-reentrant: works with a frozen embedding (no input-grad hook needed) and with LoRA layers.
            causal_lm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        if device.type == "cpu":
            use_sixteen_bit_dropout(model)  # trainables/lora_dropout.py: the CPU's per-element mask draws were 17%
        if _flash_attention_available(device, causal_lm):
            causal_lm.set_attn_implementation("flash_attention_2")
        if settings.compile:
            causal_lm.get_decoder().compile(dynamic=True)
        # One row per forward with a variable-length attention kernel (no quadratic mask); elsewhere rows of
        # max_seq_len, whose dense block-diagonal mask costs what a padded batch of that width would.
        self.micro_tokens = micro_batch_tokens(model, settings, device)
        varlen = settings.attention == "varlen" or causal_lm.config._attn_implementation == "flash_attention_2"
        self.row_tokens = self.micro_tokens if varlen else settings.max_seq_len
        self.step_losses: list[float] = []  # mean token loss of each optimizer step of the last epoch

    def train_epoch(self) -> float:
        """One pass over the training set; returns the mean token loss of the epoch.

        Each optimizer step takes `grad_accum` groups of `batch_size` examples (length-bucketed), packs them into
        rows without padding, runs them in forwards of at most `micro_tokens` tokens, and weights every target
        token equally across those forwards.
        """
        self.model.train()
        started = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        with self._packed_attention():
            sums, step_tokens = self._train_steps(self.progress.epoch)
        self.step_losses = [s / max(n, 1) for s, n in zip(sums, step_tokens, strict=True)]
        mean_loss = sum(sums) / max(sum(step_tokens), 1)
        self.progress.train_seconds += time.perf_counter() - started
        self.progress.epoch += 1
        self.progress.last_train_loss = mean_loss
        return mean_loss

    def _train_steps(self, epoch: int) -> tuple[list[float], list[int]]:
        """The epoch's optimizer steps: each step's summed loss and its number of target tokens."""
        accum = self.settings.grad_accum
        # The loss is summed on the device and token counts are taken from the CPU batch, so nothing waits for
        # the GPU until the epoch ends and Python can queue the next step while the current one runs.
        step_sums: list[torch.Tensor] = []
        step_tokens: list[int] = []
        groups = list(batches(self.train_examples, self.settings.batch_size, seed=self.seed * 1000 + epoch))
        for first in range(0, len(groups), accum):
            step_examples = [e for group in groups[first : first + accum] for e in group]
            forwards = self._packed(step_examples)
            n_targets = sum(f.n_targets for f in forwards)
            step_sum = torch.zeros((), device=self.device)
            for cpu_batch in forwards:
                with compute_precision(self.device, self.settings.autocast):
                    loss_sum = packed_loss_sum(self.model, cpu_batch.to(self.device))
                (loss_sum / max(n_targets, 1)).backward()
                step_sum += loss_sum.detach().float()
                self.progress.train_tokens += cpu_batch.n_tokens
            step_sums.append(step_sum)
            step_tokens.append(n_targets)
            self._step()
        return torch.stack(step_sums).cpu().tolist(), step_tokens  # the epoch's one synchronisation

    @contextlib.contextmanager
    def _packed_attention(self) -> Iterator[None]:
        """`training.attention: varlen` for the trainer's own forwards only: generation pads its batches and
        needs the model's masked attention back."""
        if self.settings.attention != "varlen":
            yield
            return
        causal_lm = causal_lm_of(self.model)
        before = causal_lm.config._attn_implementation
        use_varlen_attention(causal_lm)
        try:
            yield
        finally:
            causal_lm.set_attn_implementation(before)

    def _packed(self, examples: list[Example]) -> list[PackedBatch]:
        return [pack(rows, self.pad_id) for rows in micro_batches(examples, self.row_tokens, self.micro_tokens)]

    def _step(self) -> None:
        torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.progress.step += 1

    def evaluate(self) -> float:
        """Token-weighted validation loss over assistant tokens."""
        if not self.val_examples:
            return float("nan")
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        token_sum = 0
        grad_mode = torch.enable_grad() if self._eval_grad_mode else torch.no_grad()
        with grad_mode, compute_precision(self.device, self.settings.autocast), self._packed_attention():
            for cpu_batch in self._packed(list(self.val_examples)):
                loss_sum += packed_loss_sum(self.model, cpu_batch.to(self.device)).detach().float()
                token_sum += cpu_batch.n_targets
        self.model.zero_grad(set_to_none=True)
        return float(loss_sum) / token_sum if token_sum else float("nan")

    @property
    def tokens_per_second(self) -> float:
        p = self.progress
        return p.train_tokens / p.train_seconds if p.train_seconds > 0 else float("nan")

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(directory / "adapter")
        torch.save(
            {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "progress": asdict(self.progress),
                "rng": {"torch": torch.random.get_rng_state(), "python": random.getstate()},
            },
            directory / STATE_FILE,
        )

    def restore(self, directory: Path) -> None:
        """Load optimizer, scheduler and progress; the adapter weights are loaded with the model (load_adapter)."""
        state = torch.load(directory / STATE_FILE, weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.progress = Progress(**state["progress"])
        torch.random.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    # Peak resident set of the worker process (Linux reports KiB); with reused actors it is the peak over the
    # trials the process has run, an upper bound for this one.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _flash_attention_available(device: torch.device, causal_lm: torch.nn.Module) -> bool:
    """FlashAttention 2 where `flash-attn` is installed (CUDA only, optional) and the weights are 16-bit."""
    if device.type != "cuda" or causal_lm.dtype not in (torch.float16, torch.bfloat16):
        return False
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        return False
    return True


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    with contextlib.suppress(Exception):
        torch.cuda.manual_seed_all(seed)
