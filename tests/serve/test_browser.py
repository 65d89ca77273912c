"""A support manager's session in a real browser (Debian's chromium driven by Playwright): sign in, rate three
answers, skip one, and find the ratings in the database and in the agreement report; then the page's defences
(escaped answers, CSRF, cross-site posts) and a server restart that keeps everything."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest
from mlflow.tracking import MlflowClient

from judging.human.store import CRITERIA, RatingStore
from tests.serve.conftest import SEARCH, add_rater, run_cli, start_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)"),
]
XSS = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # --no-sandbox: test containers run as root, where chromium's sandbox refuses to start.
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def rater(search, ratings_db):
    return add_rater(search, ratings_db, "manager")


def sign_in(browser, server, token: str):
    page = browser.new_context().new_page()
    page.goto(f"{server.url}/rate")
    assert page.url.endswith("/rate/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    return page


def test_a_manager_rates_three_answers_and_they_reach_the_database_and_the_report(
    browser, server, search, ratings_db, rater
):
    page = sign_in(browser, server, "not-a-token")
    assert "not valid" in page.inner_text("[role=alert]")
    page = sign_in(browser, server, rater)
    progress = page.inner_text("#progress")
    assert "manager" in progress and "0 of" in progress
    total = int(progress.split(" of ")[1].split()[0])
    html = page.content()
    shown = [t.strip() for t in page.locator(".answer-text").all_inner_texts()]
    assert len(shown) == 3
    for hidden in ("knee", *search.healthy, search.knee_run_id, search.parent_run_id, "base"):
        assert hidden not in html.replace(page.inner_text("#question"), "")  # no model identity on the page
    for index, section in enumerate(page.locator("section.answer").all()):
        for j, criterion in enumerate(CRITERIA):
            section.locator(f"input[name$='.{criterion}'][value='{1 + (index + j) % 5}']").check()
    question = page.inner_text("#question")
    page.click("#submit")
    assert "1 of" in page.inner_text("#progress") and page.inner_text("#question") != question
    page.click("#skip")
    assert "2 of" in page.inner_text("#progress")

    frame = RatingStore(ratings_db).ratings_frame(SEARCH)
    mine = frame[frame["rater"] == "manager"]
    assert len(mine) == 3 and set(mine["model"]) == {"base", "knee", search.healthy[0]}
    assert sorted(mine["answer"].str.strip()) == sorted(shown) and set(mine["question"]) == {question}
    assert mine["rated_at"].notna().all() and total >= 2

    report = run_cli(search.workdir, "-m", "judging.human", "--search", SEARCH, "--ratings-db", ratings_db,
                     "--tracking-uri", search.uri, "--bootstrap", "50")  # fmt: skip
    assert report.returncode == 0, report.stderr[-3000:]
    section = (search.workdir / "reports" / SEARCH / "human.md").read_text()
    assert "## Ratings per model" in section and "## Judges against the humans" in section
    assert all(f"| {m} | 1 |" in section for m in ("base", "knee", search.healthy[0]))
    figures = json.loads((search.workdir / "reports" / SEARCH / "human.json").read_text())
    assert figures["ratings"] == 3 and figures["agreement"]["panel"]["items"] == 3
    assert figures["calibration"]["fitted"] is False  # three ratings are not enough to calibrate
    metrics = MlflowClient(search.uri).get_run(search.parent_run_id).data.metrics
    assert metrics["human_ratings__knee"] == 1.0


def test_answers_stay_text_and_forms_refuse_forged_posts(browser, server, search, ratings_db):
    store = RatingStore(ratings_db)
    store.add_question(SEARCH, "csv", "xss:1", "Is my invoice safe?", {"xss-a": ("", XSS), "xss-b": ("", "Yes.")})
    token = add_rater(search, ratings_db, "tester")
    page = sign_in(browser, server, token)
    dialogs = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    while page.inner_text("#question") != "Is my invoice safe?":
        page.click("#skip")
    assert XSS in page.locator(".answer-text").all_inner_texts()
    assert page.title() != "pwned" and not dialogs and page.locator("img[src=x]").count() == 0
    response = page.request.get(f"{server.url}/rate")
    assert "default-src 'none'" in response.headers["content-security-policy"]

    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert next(c for c in page.context.cookies() if c["name"] == "lorapareto_rater")["httpOnly"]
    forged = {"question": "1", **{f"x.{c}": "5" for c in CRITERIA}}
    assert httpx.post(f"{server.url}/rate", data=forged, cookies=cookies).status_code == 403  # no CSRF token
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    cross = httpx.post(f"{server.url}/rate/skip", data={"csrf": csrf, "question": "1"}, cookies=cookies,
                       headers={"Origin": "http://evil.example"})  # fmt: skip
    assert cross.status_code == 403


def test_a_restarted_server_keeps_every_rating_and_session(browser, server, search, ratings_db, rater):
    before = RatingStore(ratings_db).ratings_frame(SEARCH)
    page = sign_in(browser, server, rater)
    progress = page.inner_text("#progress")
    server.stop()
    port = int(server.url.rsplit(":", 1)[1])
    restarted = start_server(search, ratings_db, server.log, port=port)
    server.process = restarted.process  # the session fixture stops this one at the end
    page.reload()
    assert page.inner_text("#progress") == progress  # still signed in, same progress
    after = RatingStore(ratings_db).ratings_frame(SEARCH)
    assert after.equals(before) and len(after) >= 3
