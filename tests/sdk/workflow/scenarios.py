"""Load the scenario workflows (scenario_code.py) for one SDK.

`load("temporalio")` and `load("perdure")` execute the same workflow code as two separate
modules, each bound to its SDK's `workflow` module, so one process can run the official
SDK's worker and Perdure's Replayer over the very same code.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_CODE = Path(__file__).with_name("scenario_code.py")


def load(sdk: str) -> ModuleType:
    """The scenario module built on `sdk` ("temporalio" or "perdure"), loaded once."""
    name = f"tests.sdk.workflow._scenarios_{sdk}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _CODE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    module.__dict__["workflow"] = importlib.import_module(f"{sdk}.workflow")
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
