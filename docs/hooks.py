"""MkDocs hook: drop the Sphinx roles (``:py:class:`` ...) that the SDK's docstrings use.

mkdocstrings renders Google-style docstrings as Markdown, where a role such as
``:py:meth:`start_local``` would show up as literal text before the code span; without the
prefix the name reads as code, as intended.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":py:(?:class|meth|func|attr|data|mod|exc|obj):(?=<code)")


def on_page_content(html: str, **kwargs: Any) -> str:
    return _ROLE.sub("", html)
