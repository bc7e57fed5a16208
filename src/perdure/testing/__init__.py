"""Test helpers (mirrors ``temporalio.testing``).

:py:class:`WorkflowEnvironment` runs Perdure's engine in the test's process: fresh and in
memory (:py:meth:`~WorkflowEnvironment.start_local`), with a clock that skips ahead
(:py:meth:`~WorkflowEnvironment.start_time_skipping`), or over any client
(:py:meth:`~WorkflowEnvironment.from_client`). :py:class:`ActivityEnvironment` runs
activity functions with a working perdure.activity context: heartbeats, cancellation and
worker shutdown included. The pytest plugin (``perdure.testing.pytest_plugin``) turns
these into fixtures.
"""

from perdure.testing._activity import ActivityEnvironment
from perdure.testing._workflow import WorkflowEnvironment

__all__ = ["ActivityEnvironment", "WorkflowEnvironment"]
