"""Names in the MLflow layout that every stage reads or writes: one experiment per search, a parent run tagged
`lorapareto.role=search`, a child run per trial tagged `lorapareto.role=trial`.

Kept here, below every stage, so the trial that writes a run and the report or ratings CLI that reads it share
one spelling without importing each other.
"""

from __future__ import annotations

ROLE_TAG = "lorapareto.role"
