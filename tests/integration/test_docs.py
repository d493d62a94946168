"""The documentation builds: MkDocs in strict mode (a broken link or a page missing from the nav
fails), and the README's links to files in the repository resolve."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mkdocs_builds_in_strict_mode(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    pages = {p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").rglob("index.html")}
    assert {"index.html", "architecture/index.html", "clusters/index.html", "http-api/index.html"} <= pages


def broken_links(markdown: str, base: Path) -> list[str]:
    """Relative links of a Markdown text whose target file does not exist."""
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", markdown)
    return [t for t in targets if "://" not in t and not (base / t).exists()]


def test_readme_links_resolve_inside_the_repository():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../" not in re.findall(r"\]\(([^)]+)\)", readme).__str__(), "the README links outside the repository"
    assert broken_links(readme, ROOT) == []
    assert broken_links("see [gone](docs/nowhere.md)", ROOT) == ["docs/nowhere.md"]
