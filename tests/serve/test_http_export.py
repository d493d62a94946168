"""The story as a file over HTTP: Markdown, EPUB and HTML exports, for the owner only."""

from __future__ import annotations

import io
import zipfile

from serve_checks import assert_problem


def test_owner_downloads_every_format_and_others_get_404(alice, bob, story):
    base = f"/api/v1/sessions/{story['id']}/export"
    md = alice.get(base)  # Markdown by default, the same text as the narrative route's
    assert md.status_code == 200, md.text
    assert md.headers["content-type"].startswith("text/markdown")
    assert md.text == alice.get(f"/api/v1/sessions/{story['id']}/narrative", params={"format": "markdown"}).text
    assert f'filename="{story["id"]}.md"' in md.headers["content-disposition"]

    epub = alice.get(base, params={"format": "epub"})
    assert epub.status_code == 200 and epub.headers["content-type"] == "application/epub+zip"
    with zipfile.ZipFile(io.BytesIO(epub.content)) as z:
        assert z.read("mimetype") == b"application/epub+zip"
        chapters = [n for n in z.namelist() if "chapter-" in n]
    assert len(chapters) == 2  # the shared story has two turns

    page = alice.get(base, params={"format": "html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.text.startswith("<!DOCTYPE html>") and "<svg" in page.text and "Turn 2" in page.text

    assert_problem(alice.get(base, params={"format": "pdf"}), 422)
    missing = assert_problem(bob.get(base, params={"format": "epub"}), 404)
    assert story["id"] in missing["detail"]
