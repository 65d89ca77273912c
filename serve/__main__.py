"""`python -m serve --search NAME`: serve a finished search's base model and adapters (OpenAI-compatible API on
/v1) and the rating page (/rate)."""

from __future__ import annotations

import argparse
import logging
import os

from common.errors import InputError, exit_on_input_error

log = logging.getLogger("serve")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m serve", description=__doc__)
    parser.add_argument("--search", required=True, help="the search's name (its MLflow experiment)")
    parser.add_argument("--tracking-uri", help="MLflow store (default: MLFLOW_TRACKING_URI, else ./mlflow.db)")
    parser.add_argument("--models", help="comma-separated names to serve (default: base, knee and every trial)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--api-key-env", help="environment variable holding the key /v1 requires (Bearer)")
    parser.add_argument("--ratings-db", help="SQLAlchemy URL of the ratings database (default: ./ratings.db)")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="the most tokens one request may ask for")
    parser.add_argument("--max-batch", type=int, default=8, help="requests generated together")
    parser.add_argument("--secure-cookies", action="store_true", help="behind HTTPS: mark the sign-in cookie Secure")
    return parser.parse_args(argv)


def api_key_from(env_name: str | None) -> str | None:
    if env_name is None:
        return None
    key = os.environ.get(env_name, "")
    if len(key) < 16:
        raise InputError("--api-key-env", None, f"environment variable {env_name!r} must hold a key of 16+ characters")
    return key


@exit_on_input_error
def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per fetched file otherwise
    args = parse_args(argv)
    if not 1 <= args.port <= 65535:
        raise InputError("--port", None, f"{args.port} is not a TCP port")
    if not 1 <= args.max_new_tokens <= 4096:
        raise InputError("--max-new-tokens", None, f"{args.max_new_tokens} is not in 1-4096")
    if not 1 <= args.max_batch <= 256:
        raise InputError("--max-batch", None, f"{args.max_batch} is not in 1-256")
    api_key = api_key_from(args.api_key_env)

    from judging.human.store import RatingStore
    from search.tracking import resolve_tracking_uri
    from serve.catalog import load_catalog

    store = RatingStore(args.ratings_db)
    catalog = load_catalog(args.search, resolve_tracking_uri(args.tracking_uri))
    chosen = catalog.select(args.models.split(",") if args.models else None)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    import uvicorn

    from serve.app import create_app
    from serve.models import load_engine

    engine = load_engine(catalog, chosen, max_batch=args.max_batch)
    for name, reason in engine.unavailable.items():
        log.warning("%s is unavailable: %s", name, reason)
    log.info("serving %s of search %s on http://%s:%d/v1 (rating page: /rate)",
             ", ".join(engine.available), args.search, args.host, args.port)  # fmt: skip
    app = create_app(
        engine,
        store,
        args.search,
        api_key=api_key,
        max_new_tokens=args.max_new_tokens,
        secure_cookies=args.secure_cookies,
    )
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    finally:
        engine.close()


if __name__ == "__main__":
    main()
