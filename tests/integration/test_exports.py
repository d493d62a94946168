"""Story exports: an EPUB that epubcheck accepts and a standalone HTML page with the tension curve,
from the Python API and the command line (the HTTP route is in tests/serve/test_http_export.py)."""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import zipfile
from html.parser import HTMLParser

import pytest
from cli_runs import cli

from novel_engine import Engine
from novel_engine.errors import ConfigError

TURNS = 4


def epubcheck() -> list[str]:
    """The command that runs epubcheck (Debian's /usr/bin/epubcheck is a jar, which runs through
    binfmt where that is set up; ``java -jar`` runs it everywhere)."""
    found = shutil.which("epubcheck")
    if found is None:
        if os.environ.get("CI") == "true":  # .ci/run installs it: missing there is a failure
            pytest.fail("epubcheck is not installed (apt-get install epubcheck)")
        pytest.skip("epubcheck is not installed (apt-get install epubcheck)")
    real = os.path.realpath(found)
    return ["java", "-jar", real] if real.endswith(".jar") else [found]


def assert_valid_epub(path) -> None:
    out = subprocess.run([*epubcheck(), str(path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "No errors or warnings detected" in out.stdout + out.stderr


@pytest.fixture(scope="module")
def session():
    s = Engine().create_session("fantasy_world", seed=7)
    s.run(TURNS)
    yield s
    s.close()


class Page(HTMLParser):
    """What a page loads from elsewhere, its headings and text, and its chart's points."""

    def __init__(self) -> None:
        super().__init__()
        self.external: list[str] = []
        self.headings: list[str] = []
        self.points = ""
        self.text: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href", "data"):
            if a.get(key) and not a[key].startswith("#"):
                self.external.append(a[key])
        if tag == "link" or tag == "script":
            self.external.append(tag)
        if tag == "polyline":
            self.points = a["points"]
        self._in = tag

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "h2":
            self.headings.append(data.strip())
        self.text.append(data)


def test_epub_passes_epubcheck_with_a_chapter_per_turn(session, tmp_path):
    path = session.export_epub(tmp_path / "story.epub")
    assert_valid_epub(path)
    with zipfile.ZipFile(path) as z:
        chapters = sorted(n for n in z.namelist() if "chapter-" in n)
        assert len(chapters) == TURNS
        first = z.read(chapters[0]).decode()
    assert session.reports()[0].prose.split("\n")[0][:40] in html.unescape(first)


def test_html_page_is_standalone_with_the_tension_curve(session, tmp_path):
    path = session.export_html(tmp_path / "story.html")
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    assert page.external == [], "the page must open without a network"
    assert page.headings == [f"Turn {t}" for t in range(1, TURNS + 1)]
    points = [tuple(map(float, p.split(","))) for p in page.points.split()]
    assert len(points) == TURNS and [x for x, _ in points] == sorted(x for x, _ in points)
    # higher tension is drawn higher (smaller y): the chart follows the curve
    tension = session.tension_curve()
    for (_, ya), (_, yb), ta, tb in zip(points, points[1:], tension, tension[1:]):
        assert (ya > yb) == (tb > ta) or ta == tb
    text = "".join(page.text)
    assert session.scenario.title in text and session.reports()[-1].prose.split("\n")[0][:40] in text


def test_export_picks_the_format_by_extension_or_by_name(session, tmp_path):
    assert session.export(tmp_path / "a.md").read_text(encoding="utf-8") == session.markdown()
    assert session.export(tmp_path / "a.htm").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert zipfile.is_zipfile(session.export(tmp_path / "book.bin", format="epub"))
    with pytest.raises(ConfigError, match="unknown export format 'pdf'"):
        session.export(tmp_path / "a.pdf", format="pdf")


def test_cli_writes_epub_and_html_by_extension(tmp_path):
    db = f"sqlite:///{tmp_path / 'state.db'}"
    out = subprocess.run(
        cli("run", "noir_city", "--turns", "3", "--seed", "5", "--out", str(tmp_path / "s.epub"), "--database-url", db),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert_valid_epub(tmp_path / "s.epub")
    sid = out.stderr.split("novel-engine resume ")[1].split()[0]
    more = subprocess.run(
        cli("resume", sid, "--turns", "1", "--out", str(tmp_path / "s.html"), "--database-url", db),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert more.returncode == 0, more.stderr
    page = Page()
    page.feed((tmp_path / "s.html").read_text(encoding="utf-8"))
    assert page.headings == ["Turn 1", "Turn 2", "Turn 3", "Turn 4"] and len(page.points.split()) == 4
