"""Payloads and failures of one workflow run, and which errors fail the workflow.

All conversion starts from the workflow's own converter (with its workflow serialization
context); activities and children derive theirs from it with their own context.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure

import perdure.converter
import perdure.exceptions
from perdure.workflow import Info
from perdure.workflow._unsafe import guard_suspended


class Conversion:
    """The run's payload and failure converters, and its failure exception types."""

    def __init__(
        self,
        payload_converter: perdure.converter.PayloadConverter,
        failure_converter: perdure.converter.FailureConverter,
        *,
        info: Info,
        failure_exception_types: Sequence[type[BaseException]],
        worker_failure_exception_types: Sequence[type[BaseException]],
    ) -> None:
        self.payload_converter = _with_context(
            payload_converter,
            perdure.converter.WorkflowSerializationContext(
                namespace=info.namespace, workflow_id=info.workflow_id
            ),
        )
        self._failure_converter = failure_converter
        self._failure_types = tuple(failure_exception_types)
        self._worker_failure_types = tuple(worker_failure_exception_types)

    def use_failure_exception_types(self, types: Sequence[type[BaseException]]) -> None:
        """A dynamic workflow's config replaces the definition's failure exception types."""
        self._failure_types = tuple(types)

    def for_context(
        self, context: perdure.converter.SerializationContext
    ) -> perdure.converter.PayloadConverter:
        """The payload converter for an activity's or another workflow's payloads."""
        return _with_context(self.payload_converter, context)

    def decode(
        self,
        payloads: Sequence[Payload],
        types: Sequence[Any] | None,
        converter: perdure.converter.PayloadConverter | None = None,
    ) -> list[Any]:
        """Decode arguments or results; errors that are not failures say so."""
        if not payloads:
            return []
        if types and len(types) != len(payloads):
            types = None
        try:
            return (converter or self.payload_converter).from_payloads(
                payloads, type_hints=list(types) if types else None
            )
        except perdure.exceptions.FailureError:
            raise
        except Exception as err:
            if self.is_failure_exception(err):
                raise
            raise RuntimeError("Failed decoding arguments") from err

    def to_failure(self, err: BaseException) -> Failure:
        """Encode an exception as a Failure."""
        failure = Failure()
        with guard_suspended():
            self._failure_converter.to_failure(err, self.payload_converter, failure)
        return failure

    def from_failure(
        self,
        failure: Failure,
        payload_converter: perdure.converter.PayloadConverter | None = None,
    ) -> BaseException:
        """Decode a Failure into the exception workflow code sees."""
        return self._failure_converter.from_failure(
            failure, payload_converter or self.payload_converter
        )

    def is_failure_exception(self, err: BaseException) -> bool:
        """Failure errors, timeouts and configured types fail the workflow, not the task."""
        return (
            isinstance(err, perdure.exceptions.FailureError | asyncio.TimeoutError)
            or any(isinstance(err, t) for t in self._failure_types)
            or any(isinstance(err, t) for t in self._worker_failure_types)
        )


def _with_context(
    converter: perdure.converter.PayloadConverter,
    context: perdure.converter.SerializationContext,
) -> perdure.converter.PayloadConverter:
    if isinstance(converter, perdure.converter.WithSerializationContext):
        return converter.with_context(context)
    return converter
