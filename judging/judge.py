"""One judge model answering one prompt: cache, else a call and one repair request, else NaN with a reason."""

from __future__ import annotations

import json
from typing import Any

from common.llm import redact
from judging.cache import JudgementCache, cache_key
from judging.calls import CallSettings, complete, response_format_for
from judging.judgement import Judgement, MalformedReply, Usage, parse_json
from judging.prompt import prompt_hash
from judging.rubric import Rubric

REPAIR_REQUEST = (
    "Your reply could not be used: {problem}. Reply again with only a JSON object matching this schema: {schema}"
)


class Judge:
    def __init__(self, model: str, rubric: Rubric, settings: CallSettings, cache: JudgementCache):
        self.model = model
        self.rubric = rubric
        self.settings = settings
        self.cache = cache

    def judge(self, messages: list[dict[str, str]]) -> Judgement:
        """Score one rubric prompt."""
        data, usage, error, cached = self.ask_json(messages, self.rubric.reply_schema(), kind="rubric")
        if data is None:
            return Judgement.failed(self.model, self.rubric, error, usage)
        scores = {name: float(data["scores"][name]) for name in self.rubric.criteria}
        return Judgement(
            self.model,
            scores,
            self.rubric.overall(scores),
            rationale=data["rationale"].strip(),
            cached=cached,
            usage=usage,
        )

    def ask_json(
        self, messages: list[dict[str, str]], schema: dict[str, Any], kind: str
    ) -> tuple[dict[str, Any] | None, Usage, str, bool]:
        """(reply, usage, error, from_cache): the validated reply, or None and why it could not be had.

        `kind` separates prompt families (rubric scoring, pairwise preference) in the cache key.
        """
        key = cache_key(self.model, f"{kind}:{self.rubric.fingerprint()}", prompt_hash(messages))
        record = self.cache.get(key)
        if record is not None:
            return record, Usage(cache_hits=1), "", True
        usage = Usage()
        try:
            data = self._ask(messages, schema, usage)
        except MalformedReply as err:
            return None, usage, f"malformed reply after repair: {err}", False
        except Exception as err:  # any provider failure ends as NaN with its reason, never as a score
            reason = redact(f"{type(err).__name__}: {' '.join(str(err).split())}", self.settings.secrets())
            return None, usage, reason[:300], False
        self.cache.put(key, data)
        return data, usage, "", False

    def _ask(self, messages: list[dict[str, str]], schema: dict[str, Any], usage: Usage) -> dict[str, Any]:
        response_format = response_format_for(self.model, schema)
        reply = complete(self.model, messages, self.settings, usage, response_format)
        try:
            return parse_json(reply, schema)
        except MalformedReply as first:
            repair = REPAIR_REQUEST.format(problem=first, schema=json.dumps(schema))
            retry = [*messages, {"role": "assistant", "content": reply}, {"role": "user", "content": repair}]
            return parse_json(complete(self.model, retry, self.settings, usage, response_format), schema)
