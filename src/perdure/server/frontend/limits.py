"""Size limits as Temporal enforces them (its defaults), with its error messages."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message

from perdure.server.errors import InvalidArgument

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    blob_size_error: int = 2 * MB
    """A single payload (input, result, details, failure) above this is refused."""
    memo_size_error: int = 2 * MB
    search_attributes_size_error: int = 2 * MB
    max_id_length: int = 1000


DEFAULT = Limits()


def check_blob(size: int, what: str, limits: Limits = DEFAULT) -> None:
    if size > limits.blob_size_error:
        raise InvalidArgument(f"Blob data size exceeds limit. ({what}: {size} bytes)")


def check_payloads(message: Message, what: str, limits: Limits = DEFAULT) -> None:
    check_blob(message.ByteSize(), what, limits)
