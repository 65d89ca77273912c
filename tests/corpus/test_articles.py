"""Help articles in (issue 20): Markdown, HTML and plain text parsed into titled sections, chunked by heading
and paragraph within a bound with overlap, scrubbed, written as a Parquet table with a manifest; the
embedded help centre; bad input as one line naming the file, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from common.errors import InputError
from corpus.articles import (
    CHUNK_COLUMNS,
    MAX_CHUNK_CHARS,
    chunk_articles,
    chunk_section,
    folder_digest,
    import_articles,
    load_articles,
    parse_article,
    read_chunks,
)
from corpus.glossary import load_glossary
from corpus.settings import DEFAULT_ARTICLES, DEFAULT_GLOSSARY
from tests.helpers import ROOT, subprocess_env

MARKDOWN = """---
title: Front matter title is not used when there is an H1
---
# Resetting your APN

Your phone needs the **right** [APN](https://example.test/apn) to reach the internet.

## Values to enter
- APN: `internet`
- MMS port: 8080

## How to reset
Open *Settings* and choose Reset to default.
Restart the phone.
"""

HTML = """<!doctype html><html><head><title>Roaming | Help centre</title><style>p{color:red}</style>
<script>var tracking = "do not keep";</script></head><body>
<nav><a href="/">Home</a> &gt; <a href="/help">Help</a></nav>
<h1>Using your phone abroad</h1>
<p>Roaming lets your phone use a partner network&nbsp;abroad &amp; keeps your number.</p>
<h2>Before you travel</h2>
<ul><li><p>Turn on Data roaming.</p></li><li>Check your add-on.</li></ul>
<footer>Copyright notice</footer></body></html>
"""

TEXT = """Voicemail basics

Voicemail records a message when you do not answer.
It keeps messages for 30 days.

Listening to messages

Call 123 from your phone.
"""


def test_markdown_html_and_text_become_titled_sections() -> None:
    md = parse_article("apn.md", "markdown", MARKDOWN)
    assert md.title == "Resetting your APN"
    assert [s.heading for s in md.sections] == ["Resetting your APN", "Values to enter", "How to reset"]
    assert md.sections[0].paragraphs == ("Your phone needs the right APN to reach the internet.",)
    assert md.sections[1].paragraphs == ("- APN: internet\n- MMS port: 8080",)
    assert md.sections[2].paragraphs == ("Open Settings and choose Reset to default. Restart the phone.",)

    html = parse_article("roaming.html", "html", HTML)
    assert html.title == "Using your phone abroad"
    text = html.text
    assert "partner network abroad & keeps your number." in text
    assert "- Turn on Data roaming.\n- Check your add-on." in text
    for boilerplate in ("tracking", "color:red", "Home", "Copyright"):
        assert boilerplate not in text

    plain = parse_article("voicemail.txt", "text", TEXT)
    assert plain.title == "Voicemail basics"
    assert [s.heading for s in plain.sections] == ["Voicemail basics", "Listening to messages"]
    assert plain.sections[0].paragraphs == (
        "Voicemail records a message when you do not answer. It keeps messages for 30 days.",
    )


def test_an_html_page_without_headings_takes_its_title_element() -> None:
    article = parse_article("x.html", "html", "<html><head><title>PUK codes</title></head><p>Type the PUK.</p></html>")
    assert article.title == "PUK codes" and article.sections[0].paragraphs == ("Type the PUK.",)


def test_chunks_stay_within_the_bound_and_overlap_by_a_sentence() -> None:
    sentences = [f"Sentence number {i} says something useful about roaming charges abroad." for i in range(40)]
    paragraphs = (" ".join(sentences[:20]), " ".join(sentences[20:]))
    chunks = chunk_section(paragraphs, max_chars=300, overlap_chars=120)
    assert len(chunks) > 5 and all(len(c) <= 300 for c in chunks)
    for previous, current in zip(chunks, chunks[1:], strict=False):
        last_sentence = previous.split(". ")[-1]
        assert current.startswith(last_sentence.rstrip(".")), (previous, current)
    # Every sentence survives, in order.
    joined = " ".join(chunks)
    assert all(s in joined for s in sentences)
    # A short section is one chunk, whole.
    assert chunk_section(("One short paragraph.", "And another.")) == ["One short paragraph.\n\nAnd another."]


def test_a_sentence_longer_than_the_bound_is_cut_between_words() -> None:
    long = "word " * 400
    chunks = chunk_section((long.strip(),), max_chars=200)
    assert all(len(c) <= 200 for c in chunks) and sum(len(c.split()) for c in chunks) == 400


def test_import_writes_a_scrubbed_chunk_table_and_manifest(tmp_path: Path) -> None:
    folder = tmp_path / "help"
    (folder / "sub").mkdir(parents=True)
    (folder / "apn.md").write_text(MARKDOWN)
    (folder / "sub" / "roaming.html").write_text(HTML)
    (folder / "voicemail.txt").write_text(TEXT)
    (folder / "contact.md").write_text(
        "# Contact\n\nWrite to jane.doe@example.com or call +44 7700 900123 if your order is late.\n"
    )
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n")
    (folder / "README.md").write_text("# About this export\n\nNot an article.\n")
    manifest = import_articles(folder, tmp_path / "out")
    chunks = read_chunks(tmp_path / "out")
    assert list(chunks.columns) == CHUNK_COLUMNS
    assert manifest["articles"] == 4 and manifest["chunks"] == len(chunks)
    assert manifest["skipped_files"] == ["logo.png"]
    assert set(chunks["source_file"]) == {"apn.md", "sub/roaming.html", "voicemail.txt", "contact.md"}
    assert chunks["chunk_id"].is_unique and (chunks["chars"] == chunks["text"].str.len()).all()
    contact = chunks.loc[chunks["source_file"] == "contact.md", "text"].item()
    assert "jane.doe@example.com" not in contact and "7700 900123" not in contact
    assert "<EMAIL" in contact and "<PHONE" in contact
    assert sum(manifest["pii_placeholders"].values()) >= 2
    assert json.loads((tmp_path / "out" / "manifest.json").read_text()) == manifest
    # The same folder gives the same hash; an edit changes it.
    digest = folder_digest(folder)
    assert digest == manifest["articles_hash"]
    (folder / "voicemail.txt").write_text(TEXT + "\nNew paragraph.\n")
    assert folder_digest(folder) != digest


def test_the_embedded_help_centre_covers_the_glossary() -> None:
    articles = load_articles(DEFAULT_ARTICLES)
    assert 30 <= len(articles) <= 40
    assert all(a.source_file != "README.md" for a in articles)
    chunks, _ = chunk_articles(articles, scrub_pii=False)
    assert chunks["chars"].max() <= MAX_CHUNK_CHARS and chunks["chunk_id"].is_unique
    text = " ".join(chunks["title"] + " " + chunks["heading"] + " " + chunks["text"]).casefold()
    terms = [t.term for t in load_glossary(DEFAULT_GLOSSARY).terms]
    missing = [term for term in terms if term.casefold() not in text]
    assert missing == [], missing
    licence = (DEFAULT_ARTICLES / "README.md").read_text()
    assert "written for this project" in licence.casefold() and "Apache-2.0" in licence


def _bad_folders(tmp_path: Path) -> list[tuple[Path, Path, str]]:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.pdf").write_bytes(b"%PDF")
    unreadable = tmp_path / "unreadable"
    unreadable.mkdir()
    (unreadable / "ok.md").write_text("# Fine\n\nSome text.\n")
    (unreadable / "gone.md").symlink_to(tmp_path / "nowhere.md")
    latin = tmp_path / "latin"
    latin.mkdir()
    (latin / "cafe.txt").write_bytes("Caf\xe9 Wi-Fi\n\nConnect to the caf\xe9 network.\n".encode("latin-1"))
    title_only = tmp_path / "title_only"
    title_only.mkdir()
    (title_only / "stub.md").write_text("# Coming soon\n")
    blank = tmp_path / "blank"
    blank.mkdir()
    (blank / "blank.html").write_text("<html><body><script>x()</script>   </body></html>")
    return [
        (empty, empty, "--articles: no articles found"),
        (unreadable, unreadable / "gone.md", "cannot read article"),
        (latin, latin / "cafe.txt", "not UTF-8 text (byte 0xe9"),
        (title_only, title_only / "stub.md", "article has no text: only a title ('Coming soon')"),
        (blank, blank / "blank.html", "article has no text"),
    ]


def test_bad_article_folders_are_one_input_error_naming_the_file(tmp_path: Path) -> None:
    for folder, named, message in _bad_folders(tmp_path):
        with pytest.raises(InputError) as caught:
            import_articles(folder, tmp_path / "out")
        assert str(caught.value).startswith(f"{named}: ") and message in str(caught.value), str(caught.value)
        assert not (tmp_path / "out").exists()


def test_import_cli_writes_chunks_and_exits_2_on_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "chunks"
    ok = subprocess.run(
        [sys.executable, "-m", "corpus.import", "--articles", str(DEFAULT_ARTICLES), "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, env=subprocess_env(), timeout=300,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert f"manifest: {out / 'manifest.json'}" in ok.stdout
    chunks = pd.read_parquet(out / "chunks.parquet")
    assert len(chunks) == json.loads((out / "manifest.json").read_text())["chunks"] > 36
    folder, named, message = _bad_folders(tmp_path)[3]
    failed = subprocess.run(
        [sys.executable, "-m", "corpus.import", "--articles", str(folder), "--out", str(tmp_path / "bad")],
        capture_output=True, text=True, cwd=ROOT, env=subprocess_env(), timeout=300,
    )  # fmt: skip
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [f"error: {named}: {message}"]
    assert not (tmp_path / "bad").exists()
