"""The OpenAI-compatible API of a real `python -m serve` process on a finished search."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.serve.conftest import API_KEY

pytestmark = pytest.mark.e2e
AUTH = {"Authorization": f"Bearer {API_KEY}"}
QUESTION = [{"role": "user", "content": "My APN keeps failing on my business line. What should I check?"}]


def chat(server, model: str, max_tokens: int = 12, headers=AUTH, **extra) -> httpx.Response:
    body = {"model": model, "messages": QUESTION, "max_tokens": max_tokens, **extra}
    return httpx.post(f"{server.url}/v1/chat/completions", json=body, headers=headers, timeout=120)


def test_models_lists_base_knee_and_loadable_trials_only(server, search):
    listed = httpx.get(f"{server.url}/v1/models", headers=AUTH).json()
    names = [m["id"] for m in listed["data"]]
    assert listed["object"] == "list" and {"base", "knee", *search.healthy} <= set(names)
    assert search.broken not in names


def test_a_broken_adapter_is_unavailable_with_a_clear_error_while_the_others_serve(server, search):
    refused = chat(server, search.broken)
    assert refused.status_code == 503
    message = refused.json()["error"]["message"]
    assert search.broken in message and "could not be loaded" in message
    assert "/" not in message.replace(search.broken, "")  # names no file path
    for model in ("base", "knee", *search.healthy):
        answer = chat(server, model)
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["role"] == "assistant"
        assert answer.json()["usage"]["completion_tokens"] >= 1


def test_the_api_key_is_required(server):
    assert httpx.get(f"{server.url}/v1/models").status_code == 401
    assert httpx.get(f"{server.url}/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert chat(server, "knee", headers={"Authorization": "Bearer nope"}).status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        ({"model": "knee", "messages": []}, 400, "messages"),
        ({"model": "knee", "messages": QUESTION, "max_tokens": 100000}, 400, "max_tokens"),
        ({"model": "knee", "messages": QUESTION, "stream": True}, 400, "stream"),
        ({"model": "knee", "messages": QUESTION, "temperature": 9}, 400, "temperature"),
        ({"model": "knee", "messages": [{"role": "tool", "content": "x"}]}, 400, "role"),
        ({"model": "knee", "messages": [{"role": "user", "content": "x" * 9000}]}, 400, "content"),
        ({"model": "no-such-model", "messages": QUESTION}, 404, "no-such-model"),
    ],
)
def test_bad_requests_are_refused_with_openai_shaped_errors(server, body, status, names):
    response = httpx.post(f"{server.url}/v1/chat/completions", json=body, headers=AUTH, timeout=60)
    assert response.status_code == status, response.text
    assert names in response.json()["error"]["message"]


def test_an_oversized_body_is_refused_before_it_is_read(server):
    huge = json.dumps({"model": "knee", "messages": QUESTION, "padding": "x" * 400_000})
    response = httpx.post(f"{server.url}/v1/chat/completions", content=huge, headers=AUTH, timeout=60)
    assert response.status_code == 413


def test_concurrent_requests_to_different_adapters_answer_as_each_would_alone(server, search):
    models = ["base", "knee", *search.healthy] * 3
    alone = {m: chat(server, m).json()["choices"][0]["message"]["content"] for m in set(models)}
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda m: chat(server, m), models))
    assert all(r.status_code == 200 for r in together)
    # Greedy decoding: a row's answer does not depend on which other adapters shared its batch.
    assert [r.json()["choices"][0]["message"]["content"] for r in together] == [alone[m] for m in models]


def test_litellm_reaches_a_served_adapter_and_the_panel_judges_its_answer(server):
    import litellm

    from judging.panel import JudgeItem, Panel

    reply = litellm.completion(
        model="openai/knee", api_base=f"{server.url}/v1", api_key=API_KEY, messages=QUESTION, max_tokens=12
    )
    answer = reply.choices[0].message.content
    assert isinstance(answer, str) and reply.usage.completion_tokens >= 1
    scored = Panel(["local/reference-judge"]).score(
        [JudgeItem("q1", QUESTION[0]["content"], "Check the APN settings and the signal.", answer)]
    )
    assert 1.0 <= scored.judge_score <= 5.0


def test_the_log_shows_no_key_and_no_adapter_path(server):
    chat(server, "knee")
    log = server.log.read_text()
    assert "serving base" in log
    assert API_KEY not in log and "lorapareto-serve-" not in log and "adapter_model" not in log
