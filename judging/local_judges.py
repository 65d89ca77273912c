"""The litellm custom provider `local/` that serves the offline judges by name: `local/reference-judge`
(judging/offline.py) and `local/correctness-judge` (judging/correctness.py). Apart from both, so that neither judge
imports the other; the panel and the preflight register it before calling a `local/` model."""

from __future__ import annotations

import json
import threading
from typing import Any

import litellm
from litellm import CustomLLM, ModelResponse
from litellm.llms.custom_llm import CustomLLMError

from judging import correctness
from judging.offline import MODEL_NAME, PROVIDER, Scorer, judge_pair, judge_prompt, reference_scores

# Any other prompt is a preflight probe: answering it proves the provider is registered and callable.
PROBE_REPLY = "OK"


def scorer_for(model: str) -> Scorer:
    """The scoring function behind a `local/` model name (litellm passes the name without the provider)."""
    name = model.removeprefix(f"{PROVIDER}/")
    if name == MODEL_NAME:
        return reference_scores
    if name == correctness.MODEL_NAME:
        correctness.head()  # a missing or altered head fails here, so the preflight probe reports it
        return correctness.scores
    raise CustomLLMError(status_code=404, message=f"no offline judge named {PROVIDER}/{name}")


class LocalJudges(CustomLLM):
    """Serves every `local/` judge: `local/reference-judge` and `local/correctness-judge`."""

    def completion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> ModelResponse:
        score = scorer_for(model)
        text = " ".join(str(m.get("content", "")) for m in messages)
        if "<candidate_answer>" in text:
            content = json.dumps(judge_prompt(messages, score))
        elif "<answer_a>" in text:
            content = json.dumps(judge_pair(messages, score))
        else:
            content = PROBE_REPLY
        return ModelResponse(
            model=f"{PROVIDER}/{model.removeprefix(f'{PROVIDER}/')}",
            choices=[{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            usage={"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        )

    async def acompletion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> ModelResponse:
        return self.completion(model, messages, *args, **kwargs)


_registered = threading.Lock()


def register() -> None:
    """Add the provider to litellm's map (once per process), keeping any providers others registered."""
    with _registered:
        current = list(litellm.custom_provider_map or [])
        if any(entry.get("provider") == PROVIDER for entry in current):
            return
        litellm.custom_provider_map = [*current, {"provider": PROVIDER, "custom_handler": LocalJudges()}]
        litellm.suppress_debug_info = True
