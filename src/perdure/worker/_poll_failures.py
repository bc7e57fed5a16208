"""How a worker's pollers ride out a server they cannot reach.

Every poller of a worker (workflow, sticky and activity) reports its polls to one
:py:class:`PollFailures`. The first failure of an outage logs one warning; later ones
log at debug level while each poller backs off on its own (exponentially, with jitter,
up to ten seconds); the first poll that gets through again logs that polling recovered.
"""

from __future__ import annotations

import asyncio
import logging
import random

logger = logging.getLogger(__name__)

_FIRST_DELAY = 0.1
_MAX_DELAY = 10.0
_MULTIPLIER = 1.7
_JITTER = 0.2


class PollFailures:
    """The outage state shared by a worker's pollers of one task queue."""

    def __init__(self, task_queue: str) -> None:
        self._task_queue = task_queue
        self._failing = False

    @property
    def failing(self) -> bool:
        """Whether the last poll that ended failed."""
        return self._failing

    def backoff(self, what: str) -> PollBackoff:
        """The backoff of one poller of `what` ("Workflow task", "Activity task")."""
        return PollBackoff(self, what)

    def _failed(self, what: str, err: BaseException) -> None:
        if self._failing:
            logger.debug("%s poll of task queue %s failed again: %s", what, self._task_queue, err)
            return
        self._failing = True
        logger.warning(
            "Polling task queue %s failed, retrying with backoff until the server "
            "answers (logged once per outage): %s",
            self._task_queue,
            err,
        )

    def _succeeded(self) -> None:
        if self._failing:
            self._failing = False
            logger.info("Polling task queue %s recovered", self._task_queue)


class PollBackoff:
    """One poller's delays between failed polls."""

    def __init__(self, failures: PollFailures, what: str) -> None:
        self._failures = failures
        self._what = what
        self._delay = _FIRST_DELAY

    async def after_failure(self, err: BaseException) -> None:
        """Report a failed poll and wait before the next."""
        self._failures._failed(self._what, err)
        delay = self._delay
        self._delay = min(delay * _MULTIPLIER, _MAX_DELAY)
        await asyncio.sleep(delay * random.uniform(1 - _JITTER, 1 + _JITTER))

    def after_success(self) -> None:
        """Report a poll that got an answer: the outage, if any, is over."""
        self._failures._succeeded()
        self._delay = _FIRST_DELAY
