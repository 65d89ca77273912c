"""The server: the OpenAI-compatible API and the rating page on one FastAPI app."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse

from judging.human.store import RatingStore
from serve.api import ApiError, api_router
from serve.engine import AdapterEngine
from serve.rating import rating_router


def create_app(
    engine: AdapterEngine,
    store: RatingStore,
    search: str,
    *,
    api_key: str | None = None,
    max_new_tokens: int = 256,
    secure_cookies: bool = False,
) -> FastAPI:
    # No interactive docs: they would load scripts from a CDN, and the schema is OpenAI's.
    app = FastAPI(title="lorapareto serve", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(api_router(engine, max_new_tokens, api_key))
    app.include_router(rating_router(store, search, secure_cookies))

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, err: ApiError) -> JSONResponse:
        return err.response()

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"]) or "body"
        return ApiError(400, f"{where}: {first['msg']}", param=where).response()

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "models": engine.available, "unavailable": sorted(engine.unavailable)}

    @app.get("/")
    def root() -> RedirectResponse:
        return RedirectResponse("/rate", status_code=303)

    return app
