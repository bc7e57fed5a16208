"""The default build id follows the loaded code, with or without bytecode to read."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from perdure.worker._build_id import load_default_build_id


class _LoaderWithoutCode:
    """Like pytest's assertion rewriter: it executes modules but offers no ``get_code``."""


@pytest.fixture
def sourced_module(tmp_path: Path) -> Iterator[Path]:
    source = tmp_path / "perdure_build_id_probe.py"
    source.write_text("VALUE = 1\n")
    module = types.ModuleType("perdure_build_id_probe")
    module.__file__ = str(source)
    module.__cached__ = str(tmp_path / "__pycache__" / "absent.pyc")  # type: ignore[attr-defined]
    module.__loader__ = _LoaderWithoutCode()  # type: ignore[assignment]
    sys.modules[module.__name__] = module
    try:
        yield source
    finally:
        del sys.modules[module.__name__]


def test_module_without_bytecode_counts_by_its_source(sourced_module: Path) -> None:
    before = load_default_build_id(memoize=False)
    assert load_default_build_id(memoize=False) == before
    sourced_module.write_text("VALUE = 2\n")
    assert load_default_build_id(memoize=False) != before


def test_perdure_without_bytecode_still_has_a_build_id(monkeypatch: pytest.MonkeyPatch) -> None:
    package = sys.modules["perdure"]
    monkeypatch.setattr(package, "__loader__", _LoaderWithoutCode())
    monkeypatch.setattr(package, "__cached__", "/nonexistent/perdure.pyc")
    assert len(load_default_build_id(memoize=False)) == 32
