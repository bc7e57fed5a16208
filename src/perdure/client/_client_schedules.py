"""``Client.create_schedule``, ``get_schedule_handle`` and ``list_schedules``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from perdure.common import (
    SearchAttributes,
    TypedSearchAttributes,
    _warn_on_deprecated_search_attributes,
)

from ._interceptor import CreateScheduleInput, ListSchedulesInput, OutboundInterceptor
from ._schedule import Schedule, ScheduleBackfill
from ._schedule_info import ScheduleAsyncIterator, ScheduleHandle

_NO_METADATA: Mapping[str, str | bytes] = MappingProxyType({})


class _ScheduleMethods:
    """Mixin of :py:class:`Client`: schedules."""

    _impl: OutboundInterceptor

    async def create_schedule(
        self,
        id: str,
        schedule: Schedule,
        *,
        trigger_immediately: bool = False,
        backfill: Sequence[ScheduleBackfill] = (),
        memo: Mapping[str, Any] | None = None,
        search_attributes: TypedSearchAttributes | SearchAttributes | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> ScheduleHandle:
        """Create a schedule and return its handle.

        ``memo`` and ``search_attributes`` belong to the schedule; those of the workflows
        it starts are part of its action.

        Raises:
            ScheduleAlreadyRunningError: a schedule with this id exists.
        """
        _warn_on_deprecated_search_attributes(search_attributes)
        return await self._impl.create_schedule(
            CreateScheduleInput(
                id=id,
                schedule=schedule,
                trigger_immediately=trigger_immediately,
                backfill=backfill,
                memo=memo,
                search_attributes=search_attributes,
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
            )
        )

    def get_schedule_handle(self, id: str) -> ScheduleHandle:
        """A handle to an existing schedule."""
        from perdure.client._client import Client

        assert isinstance(self, Client)
        return ScheduleHandle(self, id)

    async def list_schedules(
        self,
        query: str | None = None,
        *,
        page_size: int = 1000,
        next_page_token: bytes | None = None,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> ScheduleAsyncIterator:
        """Schedules (matching a visibility ``query``), as an async iterator.

        Awaiting this sends nothing; iteration fetches the pages.
        """
        return self._impl.list_schedules(
            ListSchedulesInput(
                page_size=page_size,
                next_page_token=next_page_token,
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
                query=query,
            )
        )
