"""Help articles in: a folder of Markdown, plain-text or HTML articles, cleaned, cut into chunks and scrubbed.

The support-desk study trained on its knowledge base (139 articles exported as plain text) beside its tickets;
grounded generation retrieves from these chunks. Markdown is parsed with markdown-it (CommonMark), HTML with
the standard library's html.parser (scripts, styles and navigation dropped, entities decoded), plain text by
blank lines. Each article becomes a title and sections (one per heading); a section is cut at paragraph
boundaries into chunks of at most `MAX_CHUNK_CHARS`, a paragraph longer than that at sentence boundaries, and a
chunk after the first of its section repeats the previous chunk's last sentence (up to `OVERLAP_CHARS`), so a
fact split across two chunks is whole in one of them. Chunks never cross a heading.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from markdown_it import MarkdownIt

from common import atomic
from common.errors import InputError
from corpus.pii import scrub
from corpus.settings import DEFAULT_ARTICLES

# Bump when parsing or chunking changes what a folder turns into: part of the corpus hash.
ARTICLES_VERSION = "articles-v1"
SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html"}
# The help centre's sections run 250-700 characters; 900 keeps most of them whole (one chunk, one topic),
# and stays under MiniLM's 256-token input (about 1,000 characters of English) so no chunk is cut short
# when it is embedded for retrieval.
MAX_CHUNK_CHARS = 900
OVERLAP_CHARS = 200
CHUNKS_FILE = "chunks.parquet"
MANIFEST = "manifest.json"
CHUNK_COLUMNS = ["chunk_id", "source_file", "title", "heading", "position", "text", "chars"]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_SKIPPED_HTML = {"script", "style", "noscript", "template", "svg", "nav", "footer", "form", "button", "iframe"}
_BLOCK_HTML = {
    "p", "div", "section", "article", "main", "blockquote", "pre", "table", "tr", "ul", "ol", "dl", "dt", "dd",
    "figure", "figcaption", "hr", "br", "body", "aside", "details", "summary",
}  # fmt: skip
_HEADINGS = {f"h{level}": level for level in range(1, 7)}


@dataclass(frozen=True)
class Block:
    """One heading or one paragraph (a whole list counts as one paragraph, an item per line)."""

    text: str
    level: int = 0  # heading level 1-6; 0 for a paragraph


@dataclass(frozen=True)
class Section:
    heading: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Article:
    source_file: str  # relative to the folder, POSIX separators
    title: str
    sections: tuple[Section, ...]

    @property
    def text(self) -> str:
        """The body as one text: each section's heading (unless it is the title) above its paragraphs."""
        parts = []
        for section in self.sections:
            heading = [] if section.heading == self.title else [section.heading]
            parts.append("\n".join([*heading, *section.paragraphs]))
        return "\n\n".join(parts)


def clean_text(text: str) -> str:
    """One line of running text: Unicode composed, control and zero-width characters gone, spaces collapsed."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(" " if unicodedata.category(ch) in ("Zs", "Cc") else ch for ch in text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cf", "Co", "Cn"))
    return " ".join(text.split())


# --- parsers: text in, blocks out -----------------------------------------------------------------------


class _HtmlBlocks(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.title = ""
        self._buffer: list[str] = []
        self._skip_depth = 0
        self._heading = 0
        self._in_title = False
        self._list_item = False

    def _flush(self) -> None:
        text = clean_text("".join(self._buffer))
        self._buffer = []
        if not text:
            return
        if self._heading:
            self.blocks.append(Block(text, self._heading))
        elif self._list_item and self.blocks and self.blocks[-1].level == 0 and self.blocks[-1].text.startswith("- "):
            self.blocks[-1] = Block(f"{self.blocks[-1].text}\n- {text}")
        else:
            self.blocks.append(Block(f"- {text}" if self._list_item else text))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_HTML:
            self._skip_depth += 1
        elif tag == "title":
            self._in_title = True
        elif tag in _HEADINGS or tag in _BLOCK_HTML or tag == "li":
            self._flush()
            self._heading = _HEADINGS.get(tag, 0)
            self._list_item = self._list_item or tag == "li"
        elif tag in ("td", "th"):
            self._buffer.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_HTML:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in _HEADINGS or tag in _BLOCK_HTML or tag == "li":
            self._flush()
            self._heading = 0
            self._list_item = self._list_item and tag not in ("li", "ul", "ol")

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._in_title:
            self.title += data
        else:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def html_blocks(text: str) -> tuple[list[Block], str]:
    """Headings and paragraphs of an HTML page, and its <title> (a fallback for the article's title)."""
    parser = _HtmlBlocks()
    parser.feed(text)
    parser.close()
    return parser.blocks, clean_text(parser.title)


def _inline_text(token: Any) -> str:
    parts = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)  # the alt text
        elif child.type == "html_inline":
            continue
    return clean_text("".join(parts))


def _front_matter(text: str) -> tuple[str, str]:
    """A leading YAML front-matter block's `title` (if any) and the text after it."""
    match = re.match(r"\A---\s*\n(.*?)\n---\s*\n", text, flags=re.S)
    if not match:
        return "", text
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return "", text
    title = clean_text(str(meta.get("title", ""))) if isinstance(meta, dict) else ""
    return title, text[match.end() :]


def markdown_blocks(text: str) -> tuple[list[Block], str]:
    """Headings and paragraphs of a Markdown article; consecutive list items join into one paragraph."""
    title, text = _front_matter(text)
    blocks: list[Block] = []
    tokens = MarkdownIt("commonmark").parse(text)
    list_depth, ordered, counters = 0, [], []
    pending_heading = 0
    for token in tokens:
        if token.type in ("bullet_list_open", "ordered_list_open"):
            list_depth += 1
            ordered.append(token.type == "ordered_list_open")
            counters.append(int(token.attrGet("start") or 1) - 1)
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            list_depth -= 1
            ordered.pop()
            counters.pop()
        elif token.type == "heading_open":
            pending_heading = int(token.tag[1])
        elif token.type == "inline":
            line = _inline_text(token)
            if not line:
                pending_heading = 0
                continue
            if pending_heading:
                blocks.append(Block(line, pending_heading))
                pending_heading = 0
            elif list_depth:
                counters[-1] += 1
                item = f"{counters[-1]}. {line}" if ordered[-1] else f"- {line}"
                previous = blocks[-1] if blocks else None
                if previous and previous.level == 0 and re.match(r"(- |\d+\. )", previous.text):
                    blocks[-1] = Block(f"{previous.text}\n{item}")
                else:
                    blocks.append(Block(item))
            else:
                blocks.append(Block(line))
        elif token.type in ("fence", "code_block"):
            code = "\n".join(line.rstrip() for line in token.content.strip("\n").splitlines())
            if code.strip():
                blocks.append(Block(code))
        elif token.type == "html_block":
            blocks.extend(html_blocks(token.content)[0])
    return blocks, title


def text_blocks(text: str) -> tuple[list[Block], str]:
    """Paragraphs of a plain-text article, split on blank lines. The first line is the title; a later
    one-line paragraph of at most 80 characters that does not end a sentence is a heading, as are lines
    starting with '#'."""
    blocks: list[Block] = []
    title = ""
    for raw in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [clean_text(line) for line in raw.splitlines()]
        lines = [line for line in lines if line]
        if not lines:
            continue
        if not title:
            title, lines = lines[0].lstrip("#").strip(), lines[1:]
            if not lines:
                continue
        if lines[0].startswith("#"):
            blocks.append(Block(lines[0].lstrip("#").strip(), 2))
            lines = lines[1:]
        elif len(lines) == 1 and len(lines[0]) <= 80 and not lines[0].endswith((".", "!", "?", ":", ";", ",")):
            blocks.append(Block(lines[0], 2))
            continue
        if lines:
            listed = all(re.match(r"([-*•] |\d+[.)] )", line) for line in lines)
            blocks.append(Block("\n".join(lines) if listed else " ".join(lines)))
    return [Block(title, 1), *blocks] if title else blocks, ""


# --- articles and chunks ----------------------------------------------------------------------------------


def _humanise(stem: str) -> str:
    return clean_text(re.sub(r"[-_]+", " ", stem)).capitalize()


def parse_article(source_file: str, kind: str, text: str) -> Article:
    """Title and sections of one article. The title is the first level-1 heading (else the front matter's
    or the page's <title>, else the first heading, else the file name); text before the first other
    heading goes into a section headed by the title."""
    parse = {"markdown": markdown_blocks, "html": html_blocks, "text": text_blocks}[kind]
    blocks, fallback_title = parse(text)
    title = next((b.text for b in blocks if b.level == 1), "") or fallback_title
    if not title:
        title = next((b.text for b in blocks if b.level), "") or _humanise(Path(source_file).stem)
    sections: list[Section] = []
    heading, paragraphs = title, []
    title_seen = False
    for block in blocks:
        if block.level:
            if block.level == 1 and block.text == title and not title_seen:
                title_seen = True
                continue
            if paragraphs:
                sections.append(Section(heading, tuple(paragraphs)))
            heading, paragraphs = block.text, []
        else:
            paragraphs.append(block.text)
    if paragraphs:
        sections.append(Section(heading, tuple(paragraphs)))
    return Article(source_file, title, tuple(sections))


def split_sentences(paragraph: str) -> list[str]:
    if "\n" in paragraph:  # a list: each item is a unit
        return paragraph.split("\n")
    return [s for s in _SENTENCE_END.split(paragraph) if s]


def _pieces(paragraph: str, max_chars: int) -> list[str]:
    """A paragraph as pieces of at most `max_chars`: whole if it fits, else sentences (a sentence longer
    than the bound is cut between words)."""
    if len(paragraph) <= max_chars:
        return [paragraph]
    pieces = []
    for sentence in split_sentences(paragraph):
        while len(sentence) > max_chars:
            cut = sentence.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            pieces.append(sentence)
    return pieces


def chunk_section(
    paragraphs: tuple[str, ...], max_chars: int = MAX_CHUNK_CHARS, overlap_chars: int = OVERLAP_CHARS
) -> list[str]:
    """Pack a section's paragraphs (or their sentences) into chunks of at most `max_chars`."""
    pieces = [(piece, index) for index, p in enumerate(paragraphs) for piece in _pieces(p, max_chars)]
    chunks: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    for piece in pieces:
        if current and len(_join(current + [piece])) > max_chars:
            chunks.append(current)
            tail = split_sentences(current[-1][0])[-1]
            overlap = [(tail, current[-1][1])] if len(tail) <= overlap_chars else []
            if overlap and len(_join(overlap + [piece])) > max_chars:
                overlap = []
            current = overlap
        current.append(piece)
    if current:
        chunks.append(current)
    return [_join(chunk) for chunk in chunks]


def _join(pieces: list[tuple[str, int]]) -> str:
    """Pieces of one paragraph join with a space (a list's items with a newline), paragraphs with a blank line."""
    out = ""
    for i, (text, paragraph) in enumerate(pieces):
        if i == 0:
            out = text
        elif paragraph == pieces[i - 1][1]:
            out += ("\n" if re.match(r"([-*•] |\d+[.)] )", text) else " ") + text
        else:
            out += "\n\n" + text
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "article"


def article_files(folder: Path, field: str = "--articles") -> list[Path]:
    """Article files under `folder` (recursively), hidden files and READMEs left out; an error if none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, field, "not a directory")
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and not p.stem.upper().startswith("README")
        and not p.is_dir()
    )
    if not files:
        raise InputError(folder, field, f"no articles found (looked for {', '.join(SUFFIXES)} files)")
    return files


def read_article(path: Path, folder: Path) -> Article:
    """One file as an Article, or an InputError naming it: unreadable, not UTF-8, binary, or no text."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(path, None, f"cannot read article: {err.strerror or err}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(
            path, None, f"not UTF-8 text (byte {data[err.start]:#04x} at offset {err.start}); save it as UTF-8"
        ) from None
    if "\x00" in text:
        raise InputError(path, None, "binary content (NUL bytes), not an article")
    article = parse_article(path.relative_to(folder).as_posix(), SUFFIXES[path.suffix.lower()], text)
    if not article.sections:
        found = f"only a title ({article.title!r})" if text.strip() else f"{len(data)} bytes of whitespace"
        raise InputError(path, None, f"article has no text: {found}")
    return article


def load_articles(folder: Path, field: str = "--articles") -> list[Article]:
    folder = Path(folder)
    return [read_article(path, folder) for path in article_files(folder, field)]


def chunk_articles(
    articles: list[Article], *, scrub_pii: bool = True, max_chars: int = MAX_CHUNK_CHARS
) -> tuple[pd.DataFrame, Counter]:
    """One row per chunk (`CHUNK_COLUMNS`), personal data replaced by typed placeholders; the placeholders used."""
    placeholders: Counter = Counter()

    def clean(text: str) -> str:
        if not scrub_pii:
            return text
        result = scrub(text)
        placeholders.update(result.counts)
        return result.text

    stems = Counter(_slug(str(Path(a.source_file).with_suffix(""))) for a in articles)
    rows = []
    for article in articles:
        base = _slug(str(Path(article.source_file).with_suffix("")))
        prefix = base if stems[base] == 1 else _slug(article.source_file)
        position = 0
        title = clean(article.title)
        for section in article.sections:
            heading = clean(section.heading)
            for text in chunk_section(section.paragraphs, max_chars):
                text = clean(text)
                chunk_id = f"{prefix}-{position:02d}"
                rows.append([chunk_id, article.source_file, title, heading, position, text, len(text)])
                position += 1
    return pd.DataFrame(rows, columns=CHUNK_COLUMNS), placeholders


def folder_digest(folder: Path, field: str = "--articles") -> str:
    """Content hash of a folder's article files (names and bytes), for the corpus hash."""
    folder = Path(folder)
    digest = hashlib.sha256(ARTICLES_VERSION.encode())
    for path in article_files(folder, field):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError as err:
            raise InputError(path, None, f"cannot read article: {err.strerror or err}") from None
    return digest.hexdigest()[:16]


def resolve_folder(folder: Path | None) -> Path:
    """The configured articles folder, or the embedded help centre when None."""
    return Path(folder).resolve() if folder is not None else DEFAULT_ARTICLES


def import_articles(folder: Path, out: Path, *, scrub_pii: bool = True) -> dict[str, Any]:
    """Write `out/chunks.parquet` and `out/manifest.json` (staged, renamed into place); return the manifest."""
    folder = Path(folder)
    articles = load_articles(folder)
    chunks, placeholders = chunk_articles(articles, scrub_pii=scrub_pii)
    skipped = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() not in SUFFIXES and not p.name.startswith(".")
    )
    manifest = {
        "articles_hash": folder_digest(folder),
        "generator": ARTICLES_VERSION,
        "inputs": {"articles": str(folder), "max_chunk_chars": MAX_CHUNK_CHARS, "overlap_chars": OVERLAP_CHARS},
        "articles": len(articles),
        "chunks": len(chunks),
        "chars": int(chunks["chars"].sum()),
        "skipped_files": skipped,
        "pii_placeholders": dict(sorted(placeholders.items())),
    }
    buffer = io.BytesIO()
    chunks.to_parquet(buffer, index=False)
    with atomic.staged_path(Path(out)) as staging:
        atomic.write_bytes(staging / CHUNKS_FILE, buffer.getvalue())
        atomic.write_json(staging / MANIFEST, manifest)
    return manifest


def read_chunks(path: Path) -> pd.DataFrame:
    """The chunk table an import wrote (`path` is the import's output directory)."""
    file = Path(path) / CHUNKS_FILE
    if not file.is_file():
        raise InputError(path, None, f"no {CHUNKS_FILE}: not an articles import")
    return pd.read_parquet(file)
