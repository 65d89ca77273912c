"""OpenAI-compatible endpoints (`/v1/models`, `/v1/chat/completions`), so any OpenAI client, litellm's
`openai/<model>` with `api_base` included, can talk to the served adapters and the panel can judge them.

Every request is validated and bounded (pydantic); fields of OpenAI's schema this server does not use are
accepted and ignored, so stock clients work. Errors come back in OpenAI's shape, and name no file path.
"""

from __future__ import annotations

import asyncio
import hmac
import time
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from serve.engine import AdapterEngine

MAX_MESSAGES = 32
MAX_CONTENT_CHARS = 8_000
MAX_TOTAL_CHARS = 32_000
MAX_BODY_BYTES = 256 * 1024


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param = status, message, kind, param

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": None}}
        return JSONResponse(body, status_code=self.status)


class TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str = Field(max_length=MAX_CONTENT_CHARS)


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant"]
    content: str | list[TextPart] = Field(max_length=MAX_CONTENT_CHARS)

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1, max_length=200)
    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1, le=1)
    stream: Literal[False] = False

    @field_validator("messages")
    @classmethod
    def _bounded(cls, messages: list[Message]) -> list[Message]:
        total = sum(len(m.text()) for m in messages)
        if total > MAX_TOTAL_CHARS:
            raise ValueError(f"the messages hold {total} characters; at most {MAX_TOTAL_CHARS}")
        if messages[-1].role != "user":
            raise ValueError("the last message must be the user's")
        return messages


def api_router(engine: AdapterEngine, max_new_tokens: int, api_key: str | None) -> APIRouter:
    def require_key(request: Request) -> None:
        if api_key is None:
            return
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), api_key.encode()):
            raise ApiError(401, "missing or wrong API key (Authorization: Bearer <key>)", "authentication_error")

    router = APIRouter(prefix="/v1", dependencies=[Depends(require_key)])
    created = int(time.time())

    @router.get("/models")
    def models() -> dict:
        data = [
            {"id": name, "object": "model", "created": created, "owned_by": "lorapareto"} for name in engine.available
        ]
        return {"object": "list", "data": data}

    @router.post("/chat/completions")
    async def chat(body: Annotated[ChatRequest, Depends(_parse_chat)]) -> dict:
        if body.model in engine.unavailable:
            raise ApiError(503, f"model {body.model!r} is unavailable: {engine.unavailable[body.model]}",
                           "model_unavailable", "model")  # fmt: skip
        if body.model not in engine.available:
            raise ApiError(404, f"model {body.model!r} is not served here; see /v1/models", "model_not_found", "model")
        wanted = body.max_completion_tokens or body.max_tokens or max_new_tokens
        if wanted > max_new_tokens:
            raise ApiError(
                400, f"max_tokens {wanted} exceeds this server's limit of {max_new_tokens}", param="max_tokens"
            )
        messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        future = engine.submit(body.model, messages, wanted, temperature=body.temperature, top_p=body.top_p)
        try:
            done = await asyncio.wrap_future(future)
        except Exception as err:
            raise ApiError(500, f"generation failed ({type(err).__name__})", "server_error") from None
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": done.text},
                    "finish_reason": done.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": done.prompt_tokens,
                "completion_tokens": done.completion_tokens,
                "total_tokens": done.prompt_tokens + done.completion_tokens,
            },
        }

    return router


async def _parse_chat(request: Request) -> ChatRequest:
    from pydantic import ValidationError

    raw = await read_bounded(request, MAX_BODY_BYTES)
    try:
        return ChatRequest.model_validate_json(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, f"{where}: {first['msg']}", param=where) from None


async def read_bounded(request: Request, limit: int) -> bytes:
    """The body, refused past `limit` bytes whether or not the client declared its length."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body of {declared} bytes exceeds {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
