"""The training recipe of one trial, free of Ray and MLflow: train an epoch, evaluate, save and restore state."""

from __future__ import annotations

import contextlib
import math
import random
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import get_scheduler

from trainables.data import Example, batches, collate, count_batches
from trainables.settings import TrialSettings

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

    def train_epoch(self) -> float:
        """One pass over the training set; returns the mean token loss of the epoch."""
        self.model.train()
        epoch = self.progress.epoch
        accum = self.settings.grad_accum
        # The loss is summed on the device and token counts are taken from the CPU batch, so nothing waits for
        # the GPU until the epoch ends and Python can queue the next step while the current one runs.
        loss_sum = torch.zeros((), device=self.device)
        token_sum, micro = 0, 0
        started = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        for group in batches(self.train_examples, self.settings.batch_size, seed=self.seed * 1000 + epoch):
            cpu_batch = collate(group, self.pad_id)
            n_tokens = int((cpu_batch["labels"][:, 1:] != -100).sum())
            self.progress.train_tokens += int(cpu_batch["attention_mask"].sum())
            out = self.model(**self._to_device(cpu_batch))
            (out.loss / accum).backward()
            loss_sum += out.loss.detach().float() * n_tokens
            token_sum += n_tokens
            micro += 1
            if micro % accum == 0:
                self._step()
        if micro % accum:
            self._step()
        mean_loss = float(loss_sum) / max(token_sum, 1)  # the epoch's one synchronisation
        self.progress.train_seconds += time.perf_counter() - started
        self.progress.epoch += 1
        self.progress.last_train_loss = mean_loss
        return mean_loss

    def _to_device(self, cpu_batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.device.type != "cuda":
            return {k: v.to(self.device) for k, v in cpu_batch.items()}  # a no-op on the CPU
        return {k: v.pin_memory().to(self.device, non_blocking=True) for k, v in cpu_batch.items()}

    def _step(self) -> None:
        torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.progress.step += 1

    def evaluate(self) -> float:
        """Token-weighted validation loss over assistant tokens."""
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        token_sum = 0
        grad_mode = torch.enable_grad() if self._eval_grad_mode else torch.no_grad()
        with grad_mode:
            for group in batches(self.val_examples, self.settings.eval_batch_size, seed=None):
                cpu_batch = collate(group, self.pad_id)
                n_tokens = int((cpu_batch["labels"][:, 1:] != -100).sum())
                loss = self.model(**self._to_device(cpu_batch)).loss.detach()
                loss_sum += loss.float() * n_tokens
                token_sum += n_tokens
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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    with contextlib.suppress(Exception):
        torch.cuda.manual_seed_all(seed)
