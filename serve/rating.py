"""The rating page: a signed-in rater sees one customer question with its two or three answers, anonymised and
shuffled, rates each 1-5 on the rubric's four criteria, or skips it.

Why not MLflow's review queues: reviewing there needs EDIT on the experiment, which shows every trace's tags and
every other rater's assessments, and a queue item is one trace, so the answers to one question are not rated side
by side (see docs/serve.md).

Defences: the page runs no script at all (Content-Security-Policy `default-src 'none'`), answers reach it only as
Jinja-escaped text; the session cookie is HttpOnly and SameSite=Strict; every form carries a CSRF token derived
from the session (HMAC), and a POST from another origin is refused; forms are parsed from a bounded body.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader

from judging.human.store import CRITERIA, RatingStore
from judging.rubric import SCORE_MAX, SCORE_MIN
from serve.api import ApiError, read_bounded

COOKIE = "lorapareto_rater"
MAX_FORM_BYTES = 16 * 1024
LABELS = {"relevance": "Content and relevance", "grammar": "Grammar", "structure": "Structure", "style": "Style"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: under no-referrer Chromium sends `Origin: null` on the form posts themselves.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_templates = Environment(loader=PackageLoader("serve", "templates"), autoescape=True)


def csrf_token(session_id: str) -> str:
    return hmac.new(session_id.encode(), b"lorapareto-rating-form", hashlib.sha256).hexdigest()


def rating_router(store: RatingStore, search: str, secure_cookies: bool = False) -> APIRouter:
    router = APIRouter(prefix="/rate")

    def page(name: str, status: int = 200, **values) -> HTMLResponse:
        return HTMLResponse(
            _templates.get_template(name).render(**values), status_code=status, headers=SECURITY_HEADERS
        )

    def signed_in(request: Request) -> tuple[str, int, str] | None:
        session_id = request.cookies.get(COOKIE, "")
        found = store.rater_of_session(session_id) if session_id else None
        return (session_id, *found) if found else None

    async def form(request: Request, csrf_for: str | None) -> dict[str, str]:
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host"):
            raise ApiError(403, "cross-site form submission refused")
        raw = await read_bounded(request, MAX_FORM_BYTES)
        try:
            fields = dict(parse_qsl(raw.decode("utf-8"), max_num_fields=100, strict_parsing=bool(raw)))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "malformed form") from None
        if csrf_for is not None and not hmac.compare_digest(fields.get("csrf", ""), csrf_token(csrf_for)):
            raise ApiError(403, "the form's CSRF token is missing or wrong; reload the page")
        return fields

    def question_page(session_id: str, rater_id: int, rater: str, error: str = "", status: int = 200) -> HTMLResponse:
        done, total = store.progress(search, rater_id)
        found = store.next_question(search, rater_id)
        if found is None:
            return page("finished.html", rater=rater, done=done, total=total)
        question, answers = found
        random.SystemRandom().shuffle(answers)  # a fresh order at every showing: position says nothing
        return page(
            "rate.html",
            status,
            rater=rater,
            done=done,
            total=total,
            question=question.text,
            question_id=question.id,
            answers=answers,
            criteria=[(c, LABELS.get(c, c)) for c in CRITERIA],
            scale=range(SCORE_MIN, SCORE_MAX + 1),
            csrf=csrf_token(session_id),
            error=error,
        )

    @router.get("/login")
    def login_page() -> Response:
        return page("login.html")

    @router.post("/login")
    async def login(request: Request) -> Response:
        fields = await form(request, None)
        session_id = store.sign_in(fields.get("token", "")[:200])
        if session_id is None:
            return page("login.html", 401, error="That token is not valid.")
        response = RedirectResponse("/rate", status_code=303, headers=SECURITY_HEADERS)
        response.set_cookie(COOKIE, session_id, httponly=True, samesite="strict", secure=secure_cookies, path="/rate")
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        who = signed_in(request)
        if who is not None:
            await form(request, who[0])
            store.sign_out(who[0])
        response = RedirectResponse("/rate/login", status_code=303, headers=SECURITY_HEADERS)
        response.delete_cookie(COOKIE, path="/rate")
        return response

    @router.get("")
    def rate_page(request: Request) -> Response:
        who = signed_in(request)
        if who is None:
            return RedirectResponse("/rate/login", status_code=303)
        return question_page(*who)

    @router.post("")
    async def rate(request: Request) -> Response:
        who = signed_in(request)
        if who is None:
            return RedirectResponse("/rate/login", status_code=303)
        session_id, rater_id, rater = who
        fields = await form(request, session_id)
        scores = _parse_scores(fields)
        question_id = _int(fields.get("question"))
        if scores is None or question_id is None:
            return question_page(*who, error="Rate every answer on all four criteria (1-5), then save.", status=400)
        try:
            store.save_ratings(rater_id, question_id, scores)
        except ValueError:
            return question_page(*who, error="Rate every answer on all four criteria (1-5), then save.", status=400)
        return RedirectResponse("/rate", status_code=303, headers=SECURITY_HEADERS)

    @router.post("/skip")
    async def skip(request: Request) -> Response:
        who = signed_in(request)
        if who is None:
            return RedirectResponse("/rate/login", status_code=303)
        fields = await form(request, who[0])
        question_id = _int(fields.get("question"))
        if question_id is None:
            raise ApiError(400, "question: not a question id")
        try:
            store.skip(who[1], question_id)
        except ValueError:
            raise ApiError(400, "question: no such question") from None
        return RedirectResponse("/rate", status_code=303, headers=SECURITY_HEADERS)

    return router


def _parse_scores(fields: dict[str, str]) -> dict[str, dict[str, int]] | None:
    """`<answer public id>.<criterion>` fields -> scores; None unless every answer has all four on the scale."""
    scores: dict[str, dict[str, int]] = {}
    for key, value in fields.items():
        if key in ("csrf", "question"):
            continue
        answer, _, criterion = key.rpartition(".")
        number = _int(value)
        if criterion not in CRITERIA or not answer or number is None or not SCORE_MIN <= number <= SCORE_MAX:
            return None
        scores.setdefault(answer[:64], {})[criterion] = number
    if not scores or any(set(v) != set(CRITERIA) for v in scores.values()):
        return None
    return scores


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isascii() and value.isdigit() and len(value) < 10 else None
