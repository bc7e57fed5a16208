"""Every code snippet of the documentation (docs/snippets/*.py) runs and does what it says.

A snippet module holds the code that pages include (between ``--8<-- [start:name]`` and
``[end:name]`` markers) and a ``check(env, task_queue)`` coroutine that runs it on a
time-skipping environment and asserts on the outcome.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from perdure.testing import WorkflowEnvironment

SNIPPETS = Path(__file__).resolve().parents[2] / "docs" / "snippets"


@pytest.mark.parametrize("path", sorted(SNIPPETS.glob("*.py")), ids=lambda path: path.stem)
async def test_snippet(
    path: Path, perdure_env: WorkflowEnvironment, perdure_task_queue: str
) -> None:
    # Imported by name (docs/snippets is a namespace package under the repository root, which
    # pytest puts on sys.path) so that temporalio's sandbox can re-import the official SDK's.
    module = importlib.import_module(f"docs.snippets.{path.stem}")
    await module.check(perdure_env, perdure_task_queue)
