"""A story as a file: Markdown, an EPUB e-book, or one standalone HTML page with its tension curve.

Every format starts from the chronicler's Markdown (``# Title``, then one ``## heading`` section per
turn), so the three tell the same words. Markdown becomes HTML through markdown-it-py (XHTML
output, which EPUB needs) and the e-book is assembled by ebooklib; the EPUB passes epubcheck (the
tests run it). The HTML page needs no network: its style and its chart are inline.
"""

from __future__ import annotations

import html
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template

from novel_engine.errors import ConfigError

__all__ = ["FORMATS", "StoryDocument", "format_for_path", "render_epub", "render_html", "tension_svg"]

#: export formats by name, with the file extension each is recognised by
FORMATS = {"markdown": (".md", ".markdown", ".txt"), "epub": (".epub",), "html": (".html", ".htm")}
MEDIA_TYPES = {
    "markdown": "text/markdown; charset=utf-8",
    "epub": "application/epub+zip",
    "html": "text/html; charset=utf-8",
}


def format_for_path(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The export format: ``fmt`` when given, else the one ``path``'s extension names (Markdown when
    the extension is none of them).

    Raises:
        ConfigError: ``fmt`` is not a known format.
    """
    if fmt is not None:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown export format {fmt!r}; available: {', '.join(FORMATS)}", setting="format")
        return fmt
    suffix = Path(str(path)).suffix.lower()
    return next((name for name, exts in FORMATS.items() if suffix in exts), "markdown")


@dataclass(frozen=True)
class StoryDocument:
    """What an export shows: the story's Markdown, the tension after each turn, and who made it."""

    markdown: str
    tension: Sequence[float]
    description: str = ""
    session_id: str = ""
    seed: int | None = None

    @property
    def title(self) -> str:
        first = self.markdown.lstrip().splitlines()[0] if self.markdown.strip() else ""
        return first[2:].strip() if first.startswith("# ") else "Untitled"

    def chapters(self) -> list[tuple[str, str]]:
        """``(heading, Markdown body)`` of each ``## `` section, in order."""
        parts = re.split(r"^## (.*)$", self.markdown, flags=re.M)
        return [(parts[i].strip(), parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]


def _markdown_to_html(text: str) -> str:
    from markdown_it import MarkdownIt

    # commonmark: no raw HTML passes through unescaped in prose (html=False), XHTML void tags (<br />)
    return MarkdownIt("commonmark", {"html": False, "xhtmlOut": True}).render(text)


def tension_svg(tension: Sequence[float], width: int = 640, height: int = 180) -> str:
    """The tension curve (tension in [0, 1] after each turn) as an inline SVG line chart.

    Written by hand: one polyline, two axes and a few labels; a charting library (matplotlib) would
    be a heavy run-time dependency for a chart this small, and its SVG would not be this compact.
    """
    left, right, top, bottom = 40, 12, 12, 28
    w, h = width - left - right, height - top - bottom
    n = len(tension)
    x = lambda i: left + (w * i / (n - 1) if n > 1 else w / 2)  # noqa: E731
    y = lambda t: top + h * (1.0 - min(1.0, max(0.0, float(t))))  # noqa: E731
    points = " ".join(f"{x(i):.1f},{y(t):.1f}" for i, t in enumerate(tension))
    step = max(1, n // 10)
    ticks = "".join(
        f'<text x="{x(i):.1f}" y="{height - 8}" text-anchor="middle">{i + 1}</text>' for i in range(0, n, step)
    )
    dots = "".join(
        f'<circle cx="{x(i):.1f}" cy="{y(t):.1f}" r="2.5"><title>turn {i + 1}: tension {t:.2f}</title></circle>'
        for i, t in enumerate(tension)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="Tension after each turn" class="tension">'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + h}" class="axis"/>'
        f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" class="axis"/>'
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">1</text>'
        f'<text x="{left - 6}" y="{top + h}" text-anchor="end">0</text>'
        f'<polyline points="{points}" class="curve"/>{dots}{ticks}</svg>'
    )


_PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="Novel Engine $version">
<title>$title</title>
<style>
body { margin: 0 auto; max-width: 42em; padding: 1.5em; font: 1.05em/1.6 Georgia, serif; color: #222; }
h1 { margin-bottom: .2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
.description { font-style: italic; color: #555; }
figure { margin: 1.5em 0; } figcaption { font-size: .85em; color: #666; text-align: center; }
svg.tension { font: 11px sans-serif; fill: #666; }
svg.tension .axis { stroke: #999; } svg.tension .curve { fill: none; stroke: #b03a2e; stroke-width: 2; }
svg.tension circle { fill: #b03a2e; }
footer { margin-top: 3em; font-size: .85em; color: #777; }
</style>
</head>
<body>
<header>
<h1>$title</h1>
$description
</header>
<figure>
$chart
<figcaption>Tension after each turn ($turns turns)</figcaption>
</figure>
<main>
$body
</main>
<footer>$footer</footer>
</body>
</html>
""")


def _footer(doc: StoryDocument) -> str:
    from novel_engine.version import __version__

    bits = [f"Told by Novel Engine {__version__}"]
    if doc.session_id:
        bits.append(f"session {doc.session_id}")
    if doc.seed is not None:
        bits.append(f"seed {doc.seed}")
    return html.escape(", ".join(bits))


def render_html(doc: StoryDocument) -> str:
    """One standalone HTML page: the title, the tension curve as inline SVG, then every chapter."""
    from novel_engine.version import __version__

    body = "\n".join(
        f"<section>\n<h2>{html.escape(head)}</h2>\n{_markdown_to_html(text)}</section>" for head, text in doc.chapters()
    )
    desc = f'<p class="description">{html.escape(doc.description.strip())}</p>' if doc.description.strip() else ""
    return _PAGE.substitute(
        title=html.escape(doc.title),
        description=desc,
        chart=tension_svg(doc.tension),
        turns=len(doc.tension),
        body=body,
        footer=_footer(doc),
        version=html.escape(__version__),
    )


def render_epub(doc: StoryDocument) -> bytes:
    """An EPUB 3 e-book: a title page, then one chapter per turn, with a table of contents."""
    from ebooklib import epub

    book = epub.EpubBook()
    # a stable identifier: the same session exported twice is the same book
    book.set_identifier(f"urn:novel-engine:{doc.session_id or 'story'}:{doc.seed if doc.seed is not None else 0}")
    book.set_title(doc.title)
    book.set_language("en")
    book.add_author("Novel Engine")
    title_page = epub.EpubHtml(title=doc.title, file_name="title.xhtml", lang="en")
    desc = f"<p><em>{html.escape(doc.description.strip())}</em></p>" if doc.description.strip() else ""
    title_page.content = f"<h1>{html.escape(doc.title)}</h1>{desc}<p>{_footer(doc)}</p>"
    book.add_item(title_page)
    chapters = []
    for i, (head, text) in enumerate(doc.chapters(), start=1):
        chapter = epub.EpubHtml(title=head, file_name=f"chapter-{i:04d}.xhtml", lang="en")
        chapter.content = f"<h2>{html.escape(head)}</h2>{_markdown_to_html(text)}"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = [title_page, *chapters]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = [title_page, "nav", *chapters]
    out = io.BytesIO()
    epub.write_epub(out, book)
    return out.getvalue()
