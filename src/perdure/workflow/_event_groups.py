"""Event groups: markers on commands that tie them to a logical group for UIs (experimental).

Commands issued inside :py:meth:`EventGroup.scope` carry its marker; commands issued by a
signal or update handler carry the implicit marker of the event or update that started it,
as the official SDK does.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from temporalio.api.sdk.v1 import EventGroupMarker

import perdure.converter
from perdure.workflow._runtime import _Runtime


class EventGroup:
    """A group that commands (and their history events) can be associated with."""

    def __init__(self, marker: EventGroupMarker, group_id: str | None) -> None:
        """Use :py:func:`create_event_group`; the SDK creates implicit groups itself."""
        self._marker = marker
        self._id = group_id

    @contextmanager
    def scope(self) -> Iterator[None]:
        """Attach this group to every command issued inside (coroutines started inside too)."""
        _Runtime.current()
        token = _active.set(self._applied_over(_active.get()))
        try:
            yield
        finally:
            try:
                _active.reset(token)
            except ValueError:
                pass  # closed from another context while suspended inside the scope

    def _applied_over(self, active: _Active) -> _Active:
        if self._id is None:  # implicit groups isolate handlers from enclosing scopes
            return _Active(implicit=self)
        return _Active(implicit=active.implicit, explicit={**active.explicit, self._id: self})


@dataclass(frozen=True)
class _Active:
    implicit: EventGroup | None = None
    explicit: dict[str, EventGroup] = field(default_factory=dict)


_NONE_ACTIVE = _Active()
_active: contextvars.ContextVar[_Active] = contextvars.ContextVar(
    "_perdure_event_groups",
    default=_NONE_ACTIVE,
)


def create_event_group(id: str, *, label: str | None = None) -> EventGroup:
    """A labelled event group (``id`` is stored in history as plain text)."""
    _Runtime.current()
    if not id:
        raise ValueError("Event group id cannot be empty")
    if label is not None and not label:
        raise ValueError("Event group label cannot be empty")
    marker = EventGroupMarker()
    marker.label.id = id
    if label is not None:
        marker.label.label.CopyFrom(perdure.converter.PayloadConverter.default.to_payload(label))
    return EventGroup(marker, id)


def _inbound_update_group(update_id: str) -> EventGroup:
    marker = EventGroupMarker()
    marker.inbound_update.inbound_update_id = update_id
    return EventGroup(marker, None)


def _inbound_event_group(event_id: int) -> EventGroup:
    marker = EventGroupMarker()
    if event_id > 0:
        marker.inbound_event.inbound_event_id = event_id
    return EventGroup(marker, None)


def _capture_markers() -> list[EventGroupMarker]:
    """The markers for a command issued in the current context."""
    active = _active.get()
    if active.implicit is None and not active.explicit:
        return []
    markers = [group._marker for group in active.explicit.values()]
    if active.implicit is not None and active.implicit._marker.WhichOneof("variant"):
        markers.insert(0, active.implicit._marker)
    return markers
