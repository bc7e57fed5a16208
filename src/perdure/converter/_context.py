"""Serialization contexts: who a payload belongs to, for converters and codecs that care."""

from __future__ import annotations

from abc import ABC
from dataclasses import dataclass
from typing import Self


class SerializationContext(ABC):  # noqa: B024 - a marker base
    """Base of the contexts handed to converters and codecs through ``with_context``.

    A client or workflow talking to a workflow uses :py:class:`WorkflowSerializationContext`
    (with the target workflow's id); payloads to and from an activity use
    :py:class:`ActivitySerializationContext`.
    """


@dataclass(frozen=True)
class WorkflowSerializationContext(SerializationContext):
    """The workflow whose input or output is being converted."""

    namespace: str
    """The workflow's namespace."""
    workflow_id: str
    """The workflow id (for schedules, possibly the configured id prefix)."""


@dataclass(frozen=True)
class ActivitySerializationContext(SerializationContext):
    """The activity whose input or output is being converted."""

    namespace: str
    """The namespace."""
    activity_id: str | None
    """The activity id, when known."""
    activity_type: str | None
    """The activity type, when known."""
    activity_task_queue: str | None
    """The activity's task queue, when known."""
    workflow_id: str | None
    """The calling workflow's id, for activities started by a workflow."""
    workflow_type: str | None
    """The calling workflow's type, for activities started by a workflow."""
    is_local: bool
    """Whether this is a local activity."""


@dataclass(frozen=True)
class NexusSerializationContext(SerializationContext):
    """The Nexus operation whose input or output is being converted."""

    endpoint: str
    """Nexus endpoint name."""
    service: str
    """Nexus service name."""
    operation: str
    """Nexus operation name."""


class WithSerializationContext(ABC):  # noqa: B024 - optional hook, not abstract
    """Mixin for converters and codecs that want the serialization context.

    Before each conversion the SDK replaces such an object with
    ``obj.with_context(context)``; returning ``self`` means "context ignored".
    """

    def with_context(self, context: SerializationContext) -> Self:
        """A copy of this object that uses ``context``."""
        raise NotImplementedError
