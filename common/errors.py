"""One error type for bad input: a single line naming the file, the field and the value; exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

EXIT_BAD_INPUT = 2


class InputError(Exception):
    """Bad input the user can fix. `str(err)` is the one line shown to them."""

    def __init__(self, source: object, field: str | None, message: str):
        self.source = str(source)
        self.field = field
        self.message = message
        where = f"{self.source}: {field}: " if field else f"{self.source}: "
        super().__init__(where + " ".join(message.split()))


def exit_on_input_error(main: Callable[..., Any]) -> Callable[..., Any]:
    """Turn an InputError escaping a CLI entry point into one line on stderr and exit code 2."""

    @wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except InputError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper
