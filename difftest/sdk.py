"""The SDK a driver process runs programs with: the official `temporalio` (the default
profile) or Perdure's own (`--sdk perdure`), which has the same API under `perdure`.

The driver child reads DIFFTEST_SDK once, at import, so every module of the interpreter and
the driver binds the same SDK; the parent never runs workflows and keeps the default.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

SDKS = ("temporalio", "perdure")
ENV = "DIFFTEST_SDK"
NAME = os.environ.get(ENV, "temporalio")
if NAME not in SDKS:
    raise ValueError(f"{ENV}={NAME!r}: expected one of {', '.join(SDKS)}")


def _module(part: str) -> ModuleType:
    return importlib.import_module(f"{NAME}.{part}")


activity = _module("activity")
client = _module("client")
common = _module("common")
exceptions = _module("exceptions")
service = _module("service")
worker = _module("worker")
workflow = _module("workflow")
