"""The default worker build id: a hash of the code loaded in the process.

Like temporalio, it hashes the bytecode of every imported module, so a deploy that
changes any code gets a new id. Where a module has no bytecode to read (pytest's
assertion rewriter loads it, ``PYTHONDONTWRITEBYTECODE=1``, a wheel installed with
``--no-compile``) its source file stands in, so the id still follows the code.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from types import ModuleType

_default_build_id: str | None = None


def load_default_build_id(*, memoize: bool = True) -> str:
    """A build id that changes when the loaded code changes.

    Set ``build_id`` explicitly when code is loaded dynamically (after the worker starts).
    """
    global _default_build_id
    if memoize and _default_build_id:
        return _default_build_id
    digest = hashlib.md5(usedforsecurity=False)
    found_perdure = False
    for name in sorted(sys.modules):
        module = sys.modules.get(name)
        code = _module_code(name, module) if module is not None else None
        if code is None:
            continue
        found_perdure = found_perdure or name == "perdure"
        digest.update(code)
    if not found_perdure:
        raise RuntimeError(
            "Cannot get default unique worker binary ID, the value should be explicitly set"
        )
    result = digest.hexdigest()
    if memoize:
        _default_build_id = result
    return result


def _module_code(name: str, module: ModuleType) -> bytes | None:
    """The module's bytecode as its loader gives it, else its cached file, else its source."""
    try:
        code: bytes = module.__loader__.get_code(name).co_code  # type: ignore[union-attr]
        if code:
            return code
    except Exception:
        pass
    for attribute in ("__cached__", "__file__"):
        location = getattr(module, attribute, None)
        if isinstance(location, str) and location.endswith((".pyc", ".py")):
            try:
                return Path(location).read_bytes()
            except OSError:
                continue
    return None
