"""Test helpers (mirrors ``temporalio.testing``).

:py:class:`ActivityEnvironment` runs activity functions with a working
perdure.activity context: heartbeats, cancellation and worker shutdown included.
"""

from perdure.testing._activity import ActivityEnvironment

__all__ = ["ActivityEnvironment"]
