"""Load and validate a support glossary (terms, fault causes, usage contexts) from YAML.

Every problem is reported as one InputError naming the file, the entry and the field, because a user
pointing the config at their own domain's glossary must be able to fix it without reading code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from common.errors import InputError

# Section name -> (key that names an entry, other required text fields, required list-of-text fields).
_SCHEMA: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "terms": ("term", ("definition", "check"), ()),
    "causes": ("cause", ("description", "hint"), ("fix",)),
    "contexts": ("context", ("description", "situation", "advice"), ()),
}


@dataclass(frozen=True)
class Term:
    term: str
    definition: str
    check: str


@dataclass(frozen=True)
class Cause:
    cause: str
    description: str
    hint: str
    fix: tuple[str, ...]


@dataclass(frozen=True)
class Context:
    context: str
    description: str
    situation: str
    advice: str


@dataclass(frozen=True)
class Glossary:
    path: Path
    domain: str
    terms: tuple[Term, ...]
    causes: tuple[Cause, ...]
    contexts: tuple[Context, ...]


def _text(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(path, where, f"must be non-empty text, got {value!r}")
    return " ".join(value.split())


def _entries(path: Path, doc: dict[str, Any], section: str) -> list[dict[str, Any]]:
    key, text_fields, list_fields = _SCHEMA[section]
    raw = doc.get(section)
    if not isinstance(raw, list) or not raw:
        raise InputError(path, section, f"must be a non-empty list, got {type(raw).__name__}")
    seen: set[str] = set()
    entries = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise InputError(path, f"{section}[{index}]", f"must be a mapping, got {item!r}")
        if key not in item:
            raise InputError(path, f"{section}[{index}].{key}", "missing required field")
        name = _text(path, f"{section}[{index}].{key}", item[key])
        label = f"{section}[{index}] ({name!r})"
        allowed = {key, *text_fields, *list_fields}
        unknown = sorted(set(item) - allowed)
        if unknown:
            raise InputError(path, f"{label}.{unknown[0]}", f"unknown field (allowed: {sorted(allowed)})")
        for field in (*text_fields, *list_fields):
            if field not in item:
                raise InputError(path, f"{label}.{field}", "missing required field")
        if name.casefold() in seen:
            raise InputError(path, f"{label}.{key}", f"duplicate {key} {name!r}")
        seen.add(name.casefold())
        entry: dict[str, Any] = {key: name}
        for field in text_fields:
            entry[field] = _text(path, f"{label}.{field}", item[field])
        for field in list_fields:
            steps = item[field]
            if not isinstance(steps, list) or not steps:
                raise InputError(path, f"{label}.{field}", f"must be a non-empty list of text, got {steps!r}")
            entry[field] = tuple(_text(path, f"{label}.{field}[{i}]", s) for i, s in enumerate(steps))
        entries.append(entry)
    return entries


def load_glossary(path: Path) -> Glossary:
    path = Path(path)
    try:
        raw_text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(path, None, f"cannot read glossary: {err.__class__.__name__}: {err}") from None
    try:
        doc = yaml.safe_load(raw_text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        raise InputError(path, where, f"malformed YAML: {getattr(err, 'problem', err)}") from None
    if not isinstance(doc, dict):
        raise InputError(path, None, f"must be a mapping with terms, causes and contexts, got {type(doc).__name__}")
    unknown = sorted(set(doc) - {"domain", *_SCHEMA})
    if unknown:
        raise InputError(path, unknown[0], "unknown section (allowed: domain, terms, causes, contexts)")
    return Glossary(
        path=path,
        domain=_text(path, "domain", doc.get("domain", "customer support")),
        terms=tuple(Term(**e) for e in _entries(path, doc, "terms")),
        causes=tuple(Cause(**e) for e in _entries(path, doc, "causes")),
        contexts=tuple(Context(**e) for e in _entries(path, doc, "contexts")),
    )
