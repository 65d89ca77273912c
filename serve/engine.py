"""One loaded base model carrying every served adapter (peft multi-adapter), answering chat requests in batches.

A single worker thread owns the model. Requests wait in a queue; the worker takes what has arrived (up to
`max_batch`, waiting `batch_window_s` for company) and generates for all of them in one `generate` call, each row
through its own adapter (peft's mixed-adapter batches, `adapter_names=`; `__base__` is the untuned model). So
eight clients asking eight different adapters cost one batched forward pass per token, not eight.
DoRA adapters cannot share a batch with others in peft; those rows run in a batch of their own adapter.

An adapter that fails to load (missing or corrupt files, another base's shapes) is left out with its reason;
every other model keeps serving.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import torch

from trainables.base_model import load_base_model, load_tokenizer
from trainables.precision import compute_precision

log = logging.getLogger(__name__)
BASE_ADAPTER = "__base__"  # peft's name for "no adapter" in a mixed batch


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # stop | length


@dataclass
class _Request:
    model: str
    prompt: list[int]
    max_tokens: int
    temperature: float
    top_p: float
    future: Future = field(default_factory=Future)

    @property
    def sampling(self) -> tuple[float, float]:
        return (self.temperature, self.top_p) if self.temperature > 0 else (0.0, 1.0)


class AdapterEngine:
    def __init__(
        self,
        base_dir: Path,
        adapters: dict[str, Path],
        *,
        system_prompt: str,
        base_name: str = "base",
        device: torch.device | None = None,
        max_batch: int = 8,
        batch_window_s: float = 0.005,
        max_prompt_tokens: int = 1024,
    ):
        self.device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.system_prompt = system_prompt
        self.base_name = base_name
        self.max_batch = max_batch
        self.batch_window_s = batch_window_s
        self.max_prompt_tokens = max_prompt_tokens
        self.tokenizer = load_tokenizer(base_dir)
        self.model = load_base_model(base_dir, "bf16", self.device)
        self.unavailable: dict[str, str] = {}
        self.dora: set[str] = set()
        for name, path in adapters.items():
            self._load_adapter(name, Path(path))
        self.model.eval()
        self.available = [base_name, *(n for n in adapters if n not in self.unavailable)]
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._worker = threading.Thread(target=self._serve, name="adapter-engine", daemon=True)
        self._worker.start()

    def _load_adapter(self, name: str, path: Path) -> None:
        from peft import PeftConfig, PeftModel
        from safetensors.torch import load_file

        try:
            # Read both files before touching the model: a half-injected adapter would break the others.
            config = PeftConfig.from_pretrained(str(path))
            load_file(str(path / "adapter_model.safetensors"))
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(str(path), adapter_name=name)
            else:
                self.model = PeftModel.from_pretrained(self.model, str(path), adapter_name=name)
        except Exception as err:
            if isinstance(self.model, PeftModel) and name in self.model.peft_config:
                self.model.delete_adapter(name)
            # The reason names the failure, never the path: the server's log and errors show no file locations.
            self.unavailable[name] = f"its adapter could not be loaded ({type(err).__name__})"
            log.warning("model %s is unavailable: %s", name, self.unavailable[name])
            return
        if getattr(config, "use_dora", False):
            self.dora.add(name)

    def prompt_ids(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """The chat template's prompt; the search's system prompt first where the client gave none, as in training."""
        messages = list(messages)
        if messages[0]["role"] != "system":
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        encoded = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True)
        ids = list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)
        return ids[-self.max_prompt_tokens :]

    def submit(
        self,
        model: str,
        messages: Sequence[dict[str, str]],
        max_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
    ) -> Future:
        """A future of the Completion; the model must be one of `available`."""
        if model not in self.available:
            raise KeyError(model)
        request = _Request(model, self.prompt_ids(messages), max_tokens, temperature, top_p)
        self._queue.put(request)
        return request.future

    def complete(self, model: str, messages: Sequence[dict[str, str]], max_tokens: int, **sampling) -> Completion:
        return self.submit(model, messages, max_tokens, **sampling).result()

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=30)

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get(timeout=self.batch_window_s)
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            for group in self._groups(batch):
                self._run(group)

    def _groups(self, batch: list[_Request]) -> list[list[_Request]]:
        """Rows that can share one generate call: same sampling settings, and DoRA adapters alone."""
        groups: dict[tuple, list[_Request]] = {}
        for r in batch:
            key = (r.sampling, r.model if r.model in self.dora else "")
            groups.setdefault(key, []).append(r)
        return list(groups.values())

    def _run(self, group: list[_Request]) -> None:
        try:
            completions = self._generate(group)
        except Exception as err:
            log.exception("generation failed for %d request(s)", len(group))
            for r in group:
                r.future.set_exception(err)
            return
        for r, c in zip(group, completions, strict=True):
            r.future.set_result(c)

    @torch.inference_mode()
    def _generate(self, group: list[_Request]) -> list[Completion]:
        pad_id = self.tokenizer.pad_token_id
        eos_id = self.tokenizer.eos_token_id
        width = max(len(r.prompt) for r in group)
        # Left padding keeps every prompt's last token next to its first generated one.
        input_ids = torch.full((len(group), width), pad_id, dtype=torch.long)  # (B, T)
        attention = torch.zeros((len(group), width), dtype=torch.long)
        for i, r in enumerate(group):
            input_ids[i, width - len(r.prompt) :] = torch.tensor(r.prompt)
            attention[i, width - len(r.prompt) :] = 1
        temperature, top_p = group[0].sampling
        options = (
            {"do_sample": False}
            if temperature == 0
            else {"do_sample": True, "temperature": temperature, "top_p": top_p}
        )
        if hasattr(self.model, "peft_config"):
            options["adapter_names"] = [BASE_ADAPTER if r.model == self.base_name else r.model for r in group]
        # The precision the trials answered the judges in (trainables/precision.py), so served answers are the
        # judged ones.
        with compute_precision(self.device, "auto"):
            output = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention.to(self.device),
                max_new_tokens=max(r.max_tokens for r in group),
                pad_token_id=pad_id,
                eos_token_id=eos_id,
                **options,
            )
        completions = []
        for i, r in enumerate(group):
            new = output[i, width:].tolist()[: r.max_tokens]  # rows ran as long as the longest request asked
            stop = new.index(eos_id) if eos_id in new else None
            tokens = new[:stop] if stop is not None else new
            text = self.tokenizer.decode(tokens, skip_special_tokens=True).strip()
            completions.append(Completion(text, len(r.prompt), len(tokens), "stop" if stop is not None else "length"))
        return completions
