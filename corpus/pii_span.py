"""One detected piece of personal data: what the rules, the validators and the token classifier all return, in a
module of its own so the scrubber and its model import it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    kind: str
    start: int
    end: int
    # Confidence in [0, 1]: checksum-validated identifiers 1.0, cue-word matches 0.97, model spans their
    # mean token probability.
    score: float
