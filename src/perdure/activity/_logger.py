"""The activity logger: a LoggerAdapter that adds the running activity's details."""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from typing import Any

from perdure.activity._context import _current_context


class LoggerAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Adds the running activity's details to each record, so logs can be correlated.

    Attributes:
        activity_info_on_message: Append a dict of activity details to the message.
            Default True.
        activity_info_on_extra: Put those details in ``extra["temporal_activity"]``
            (so they appear on the LogRecord). Default True.
        full_activity_info_on_extra: Put the whole Info in ``extra["activity_info"]``.
            Default False.
    """

    def __init__(self, logger: logging.Logger, extra: Mapping[str, Any] | None) -> None:
        """Wrap `logger`; outside an activity, records pass through unchanged."""
        super().__init__(logger, extra or {})
        self.activity_info_on_message = True
        self.activity_info_on_extra = True
        self.full_activity_info_on_extra = False

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        """Add the activity details to the message and/or the record's extra."""
        context = _current_context.get(None)
        if context is None:
            return msg, kwargs
        if self.activity_info_on_message:
            msg = f"{msg} ({context.logger_details})"
        if self.activity_info_on_extra or self.full_activity_info_on_extra:
            # Copy: the caller's extra dict must not change under it.
            extra = dict(kwargs.get("extra") or {})
            if self.activity_info_on_extra:
                extra["temporal_activity"] = context.logger_details
            if self.full_activity_info_on_extra:
                extra["activity_info"] = context.info()
            kwargs["extra"] = extra
        return msg, kwargs

    @property
    def base_logger(self) -> logging.Logger:
        """The wrapped logger, to add handlers or formatters."""
        logger: logging.Logger = self.logger
        return logger


logger = LoggerAdapter(logging.getLogger("perdure.activity"), None)
"""Logger whose records carry the running activity's details."""
