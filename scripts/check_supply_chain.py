"""Fail when an installed distribution is on the repo's list of known-compromised releases."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

LIST = Path(__file__).resolve().parent.parent / "compromised-releases.txt"


def compromised_installed(list_path: Path = LIST) -> list[str]:
    bad = []
    for raw in list_path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        try:
            installed = metadata.version(name.strip())
        except metadata.PackageNotFoundError:
            continue
        if installed == version.strip():
            bad.append(f"{name.strip()}=={installed}")
    return bad


if __name__ == "__main__":
    found = compromised_installed()
    if found:
        print(f"{LIST.name}: compromised release installed: {', '.join(found)}", file=sys.stderr)
        sys.exit(1)
