"""`python -m serve.raters add NAME | list | remove NAME`: the people who may rate. `add` prints the rater's
token once; the database keeps only its SHA-256 digest."""

from __future__ import annotations

import argparse
import re

from common.errors import InputError, exit_on_input_error
from judging.human.store import RatingStore

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,99}$")


@exit_on_input_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m serve.raters", description=__doc__)
    parser.add_argument("action", choices=["add", "list", "remove"])
    parser.add_argument("name", nargs="?")
    parser.add_argument("--ratings-db", help="SQLAlchemy URL of the ratings database (default: ./ratings.db)")
    args = parser.parse_args(argv)
    if args.action != "list" and (args.name is None or not NAME.match(args.name)):
        raise InputError("NAME", None, f"{args.name!r} is not a rater name (letters, digits, space . _ @ -; 1-100)")
    store = RatingStore(args.ratings_db)
    if args.action == "add":
        token = store.add_rater(args.name)
        print(f"rater {args.name} added; their token (shown once, keep it secret):\n{token}")
    elif args.action == "remove":
        store.deactivate_rater(args.name)
        print(f"rater {args.name} can no longer sign in; their ratings stay")
    else:
        for name, active in store.raters():
            print(f"{name}\t{'active' if active else 'removed'}")


if __name__ == "__main__":
    main()
