"""The documentation site builds with warnings as errors; its snippets and links hold together."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    """Broken links or anchors, pages missing from the nav, missing snippets fail the build."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert built.returncode == 0, built.stderr[-4000:]
    timers = (tmp_path / "concepts" / "timers" / "index.html").read_text()
    assert "wait_condition" in timers and "trial over" in timers  # the snippet was included
    reference = (tmp_path / "reference" / "client" / "index.html").read_text()
    assert "execute_workflow" in reference  # mkdocstrings rendered the docstrings
    assert ":py:" not in reference  # docs/hooks.py dropped the Sphinx roles


def test_every_snippet_is_shown_on_a_page() -> None:
    pages = "\n".join(path.read_text() for path in DOCS.rglob("*.md"))
    shown = set(re.findall(r'--8<-- "(\w+)\.py', pages))
    snippets = {path.stem for path in (DOCS / "snippets").glob("*.py")}
    assert sorted(snippets - shown) == []


def test_readme_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    local = [target for target in targets if "://" not in target]
    assert "docs/index.md" in local and "examples/README.md" in local
    assert sorted(target for target in local if not (ROOT / target).exists()) == []
