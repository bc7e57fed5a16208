"""Completing activities from outside the worker (async activity completion)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Self

from perdure.common import _arg_unset
from perdure.converter import DataConverter, SerializationContext, WithSerializationContext

from ._interceptor import (
    CompleteAsyncActivityInput,
    FailAsyncActivityInput,
    HeartbeatAsyncActivityInput,
    ReportCancellationAsyncActivityInput,
)

if TYPE_CHECKING:
    from perdure.client._client import Client

_NO_METADATA: Mapping[str, str | bytes] = MappingProxyType({})


@dataclass(frozen=True)
class AsyncActivityIDReference:
    """An activity named by its workflow and activity ids (instead of its task token)."""

    workflow_id: str | None
    """The workflow that scheduled it."""
    run_id: str | None
    """That workflow's run, or None for the latest."""
    activity_id: str
    """The activity id."""


class AsyncActivityHandle(WithSerializationContext):
    """Heartbeat, complete, fail or cancel an activity that raised ``CompleteAsyncError``."""

    def __init__(
        self,
        client: Client,
        id_or_token: AsyncActivityIDReference | bytes,
        data_converter_override: DataConverter | None = None,
    ) -> None:
        """Use :py:meth:`Client.get_async_activity_handle` rather than this."""
        self._client = client
        self._id_or_token = id_or_token
        self._data_converter_override = data_converter_override

    async def heartbeat(
        self,
        *details: Any,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> None:
        """Record a heartbeat with ``details``.

        Raises:
            AsyncActivityCancelledError: the activity was cancelled, paused or reset.
        """
        await self._client._impl.heartbeat_async_activity(
            HeartbeatAsyncActivityInput(
                id_or_token=self._id_or_token,
                details=details,
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
                data_converter_override=self._data_converter_override,
            )
        )

    async def complete(
        self,
        result: Any | None = _arg_unset,
        *,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> None:
        """Complete the activity, with ``result`` if given."""
        await self._client._impl.complete_async_activity(
            CompleteAsyncActivityInput(
                id_or_token=self._id_or_token,
                result=result,
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
                data_converter_override=self._data_converter_override,
            )
        )

    async def fail(
        self,
        error: Exception,
        *,
        last_heartbeat_details: Sequence[Any] = (),
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> None:
        """Fail the attempt with ``error`` (retried per the activity's retry policy)."""
        await self._client._impl.fail_async_activity(
            FailAsyncActivityInput(
                id_or_token=self._id_or_token,
                error=error,
                last_heartbeat_details=last_heartbeat_details,
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
                data_converter_override=self._data_converter_override,
            )
        )

    async def report_cancellation(
        self,
        *details: Any,
        rpc_metadata: Mapping[str, str | bytes] = _NO_METADATA,
        rpc_timeout: timedelta | None = None,
    ) -> None:
        """Confirm that the activity stopped after a cancellation request."""
        await self._client._impl.report_cancellation_async_activity(
            ReportCancellationAsyncActivityInput(
                id_or_token=self._id_or_token,
                details=details,
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
                data_converter_override=self._data_converter_override,
            )
        )

    def with_context(self, context: SerializationContext) -> Self:
        """A handle that converts payloads with ``context`` (e.g. the activity's)."""
        converter = self._client.data_converter.with_context(context)
        if converter is self._client.data_converter:
            return self
        if type(self).__init__ is not AsyncActivityHandle.__init__:
            raise TypeError(
                "If you have subclassed AsyncActivityHandle and overridden the __init__ method "
                "then you must override with_context to return an instance of your class."
            )
        return type(self)(self._client, self._id_or_token, converter)
