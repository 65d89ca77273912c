"""Reading a config: a YAML preset or file, `section.key=value` overrides, and one-line errors naming the value.

Generic over the pydantic model that validates it, so the whole experiment config (`experiment.config`) and a
stage CLI that reads only its own sections (`corpus.build`) load files the same way and report the same errors.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from common.errors import InputError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
PRESETS = ("local", "paper")
Model = TypeVar("Model", bound=BaseModel)
NAMED_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*): (.+)$", re.DOTALL)


def add_set_option(parser: argparse.ArgumentParser, help: str) -> None:
    """`--set SECTION.KEY=VALUE` (repeatable) into `args.overrides`, the form `load_model` takes."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE", help=help
    )


def available_presets() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def preset_path(name: str) -> Path:
    path = CONFIG_DIR / f"{name}.yaml"
    if not path.is_file():
        raise InputError("--preset", None, f"unknown preset {name!r}; available: {', '.join(available_presets())}")
    return path


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(path, None, f"cannot read config: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise InputError(
            path, None, f"not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start}); save it as UTF-8"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise InputError(path, None, f"malformed YAML: {where}{problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(path, None, f"top level must be a mapping of sections, got {type(data).__name__}")
    return data


def apply_override(data: dict[str, Any], override: str) -> tuple[str, ...]:
    """Set `section.key=value` (the value parsed as YAML) in `data`; returns the key's path."""
    key, sep, raw = override.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise InputError("--set", None, f"expected section.key=value, got {override!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    path = tuple(key.split("."))
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value
    return path


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def load_model(
    model: type[Model],
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> Model:
    """Validate a preset (default `local`) or file plus overrides; raise InputError naming file, field, value."""
    if preset and config_file:
        raise InputError("--config", None, "give either --preset or --config, not both")
    source = Path(config_file) if config_file else preset_path(preset or "local")
    data = read_yaml(source)
    overridden = {apply_override(data, o): o for o in overrides}
    try:
        validated = model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = tuple(str(p) for p in first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        # A section-level check names the key it is about first (`reference_point.judge_score: ...`), so the
        # error points at that key and at the --set that gave it, not at the whole section.
        named = NAMED_KEY.match(msg)
        if named:
            loc, msg = loc + tuple(named.group(1).split(".")), named.group(2)
        origin = _origin(loc, overridden, source)
        field = ".".join(loc) or "(top level)"
        given = first.get("input")
        # Model-level checks already name the value in their message; their input is the whole section.
        value = "" if first["type"] == "missing" or isinstance(given, dict) or named else f" (got {_describe(given)})"
        if first["type"] == "extra_forbidden":
            msg, value = "unknown key", ""
        raise InputError(origin, field, f"{msg}{value}") from None
    # pydantic takes .inf, .nan and '1e999' for a float: no setting here means anything by them.
    for loc, number in _floats(validated.model_dump()):
        if not math.isfinite(number):
            raise InputError(_origin(loc, overridden, source), ".".join(loc), f"must be a finite number (got {number})")
    return validated


def _origin(loc: tuple[str, ...], overridden: dict[tuple[str, ...], str], source: Path) -> str:
    """The --set that gave the value at `loc`, else the config file."""
    return next(
        (f"--set {o}" for path, o in overridden.items() if loc[: len(path)] == path or path[: len(loc)] == loc),
        str(source),
    )


def _floats(value: Any, loc: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], float]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _floats(child, (*loc, str(key)))
    elif isinstance(value, list | tuple):
        for index, child in enumerate(value):
            yield from _floats(child, (*loc, str(index)))
    elif isinstance(value, float):
        yield loc, value
