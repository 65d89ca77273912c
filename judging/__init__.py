"""LLM-as-a-judge scoring of candidate answers, through litellm, with an offline judge.

`judging.Panel`, `judging.JudgeItem`, `judging.PanelResult` and `judging.Rubric` load on first use, so
importing `judging.settings` (every config load does) does not pay for importing litellm.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Panel": "judging.panel",
    "JudgeItem": "judging.panel",
    "PanelResult": "judging.panel",
    "Rubric": "judging.rubric",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'judging' has no attribute {name!r}")
