"""What a running workflow knows about itself: Info, ParentInfo, RootInfo, UpdateInfo."""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio.api.common.v1 import Payload

import perdure.common


@dataclass(frozen=True)
class ParentInfo:
    """The workflow that started this one as a child."""

    namespace: str
    run_id: str
    workflow_id: str


@dataclass(frozen=True)
class RootInfo:
    """The top of this workflow's chain of parents."""

    run_id: str
    workflow_id: str


@dataclass(frozen=True)
class Info:
    """This workflow run, as told by its start event (see :py:func:`perdure.workflow.info`).

    Immutable except that upserting search attributes replaces ``search_attributes`` and
    ``typed_search_attributes``.
    """

    attempt: int
    continued_run_id: str | None
    cron_schedule: str | None
    execution_timeout: timedelta | None
    first_execution_run_id: str
    headers: Mapping[str, Payload]
    namespace: str
    original_execution_run_id: str
    parent: ParentInfo | None
    root: RootInfo | None
    priority: perdure.common.Priority
    raw_memo: Mapping[str, Payload]
    retry_policy: perdure.common.RetryPolicy | None
    run_id: str
    run_timeout: timedelta | None
    search_attributes: perdure.common.SearchAttributes
    start_time: datetime
    task_queue: str
    task_timeout: timedelta
    typed_search_attributes: perdure.common.TypedSearchAttributes
    workflow_id: str
    workflow_start_time: datetime
    workflow_type: str

    def _logger_details(self) -> Mapping[str, Any]:
        return {
            "attempt": self.attempt,
            "namespace": self.namespace,
            "run_id": self.run_id,
            "task_queue": self.task_queue,
            "workflow_id": self.workflow_id,
            "workflow_type": self.workflow_type,
        }

    def get_current_history_length(self) -> int:
        """Events in history up to the current workflow task (stale inside queries)."""
        from perdure.workflow._runtime import _Runtime

        return _Runtime.current().workflow_get_current_history_length()

    def get_current_history_size(self) -> int:
        """Bytes of history up to the current workflow task (stale inside queries)."""
        from perdure.workflow._runtime import _Runtime

        return _Runtime.current().workflow_get_current_history_size()

    def is_continue_as_new_suggested(self) -> bool:
        """The server suggests continuing as new (history is getting large)."""
        from perdure.workflow._runtime import _Runtime

        return _Runtime.current().workflow_is_continue_as_new_suggested()

    def get_current_build_id(self) -> str:
        """Build id of the worker that completed the current task ("" when unversioned)."""
        from perdure.workflow._runtime import _Runtime

        return _Runtime.current().workflow_get_current_build_id()


@dataclass(frozen=True)
class UpdateInfo:
    """The update whose handler (or validator) is running."""

    id: str
    name: str

    @property
    def _logger_details(self) -> Mapping[str, Any]:
        return {"update_id": self.id, "update_name": self.name}


_current_update_info: contextvars.ContextVar[UpdateInfo] = contextvars.ContextVar(
    "__perdure_current_update_info"
)


def _set_current_update_info(info: UpdateInfo) -> None:
    _current_update_info.set(info)


def current_update_info() -> UpdateInfo | None:
    """The update being handled by the current coroutine, or None outside update handlers."""
    return _current_update_info.get(None)
