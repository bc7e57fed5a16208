"""The workflow logger: records carry the workflow's identity and are skipped during replay."""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from typing import Any

from perdure.workflow._info import current_update_info
from perdure.workflow._runtime import _Runtime
from perdure.workflow._unsafe import guard_suspended, unsafe


class LoggerAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Adds the running workflow's details to every record; silent while replaying.

    Attributes:
        workflow_info_on_message: Append a dict of workflow details to the message.
        workflow_info_on_extra: Put those details under ``temporal_workflow`` in ``extra``.
        full_workflow_info_on_extra: Put the whole Info under ``workflow_info`` in ``extra``.
        log_during_replay: Also log while history is being replayed.
    """

    def __init__(self, logger: logging.Logger, extra: Mapping[str, Any] | None) -> None:
        """Wrap ``logger``."""
        super().__init__(logger, extra or {})
        self.workflow_info_on_message = True
        self.workflow_info_on_extra = True
        self.full_workflow_info_on_extra = False
        self.log_during_replay = False

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        """Add the workflow (and update) details to the message and ``extra``."""
        runtime = _Runtime.maybe_current()
        if runtime is None:
            return msg, kwargs
        info = runtime.workflow_info()
        details: dict[str, Any] = dict(info._logger_details())
        update = current_update_info()
        if update is not None:
            details.update(update._logger_details)
        extra: dict[str, Any] = {}
        if self.workflow_info_on_extra:
            extra["temporal_workflow"] = details
        if self.full_workflow_info_on_extra:
            extra["workflow_info"] = info
        kwargs["extra"] = {**extra, **(kwargs.get("extra") or {})}
        if self.workflow_info_on_message:
            msg = f"{msg} ({details})"
        return msg, kwargs

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log with the determinism guard lifted (handlers read clocks and write files)."""
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1
        with guard_suspended():
            super().log(level, msg, *args, **kwargs)

    def isEnabledFor(self, level: int) -> bool:
        """False during replay unless ``log_during_replay``."""
        if not self.log_during_replay and unsafe.is_replaying_history_events():
            return False
        return super().isEnabledFor(level)

    @property
    def base_logger(self) -> logging.Logger:
        """The wrapped logger (to add handlers or formatters)."""
        base: logging.Logger = self.logger
        return base


logger = LoggerAdapter(logging.getLogger("perdure.workflow"), None)
"""Logger for workflow code: ``workflow.logger.info("...")``."""
