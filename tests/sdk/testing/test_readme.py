"""The README's testing example, as written, in a fresh pytest process.

The project's configuration and test file come straight from the README's code blocks.
The run has no bytecode to read (``PYTHONDONTWRITEBYTECODE=1``, and pytest's assertion
rewriter loads perdure through the plugin), which is where the default build id once failed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[3] / "README.md"


def _testing_section_blocks() -> dict[str, str]:
    text = README.read_text()
    section = text.split("## Testing workflows", 1)[1].split("\n## ", 1)[0]
    return {lang: body for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, re.S)}


def test_readme_testing_example_passes_as_written(tmp_path: Path) -> None:
    blocks = _testing_section_blocks()
    assert "pytest-asyncio" in blocks["sh"]
    (tmp_path / "pyproject.toml").write_text(blocks["toml"])
    (tmp_path / "test_reminder.py").write_text(blocks["python"])
    source_root = str(Path(__file__).parents[3] / "src")
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join([source_root, os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert not list(tmp_path.rglob("*.pyc"))
