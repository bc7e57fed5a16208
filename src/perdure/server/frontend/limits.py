"""Size limits as Temporal enforces them (its defaults), with its error messages."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from google.protobuf.message import Message

from perdure.server.errors import InvalidArgument

MB = 1024 * 1024

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limits:
    blob_size_error: int = 2 * MB
    """A single payload (input, result, details, failure) above this is refused."""
    blob_size_warn: int = 512 * 1024
    """Above this a payload is logged; only then is it judged against the error limit,
    as Temporal does (so an error limit under the warn limit has no effect)."""
    memo_size_error: int = 2 * MB
    search_attributes_size_error: int = 2 * MB
    max_id_length: int = 1000


DEFAULT = Limits()


def check_blob(size: int, what: str, limits: Limits = DEFAULT) -> None:
    if size <= limits.blob_size_warn:
        return
    log.warning("Blob data size exceeds the warning limit: %s of %d bytes", what, size)
    if size > limits.blob_size_error:
        raise InvalidArgument("Blob data size exceeds limit.")  # Temporal's words, no more


def check_payloads(message: Message, what: str, limits: Limits = DEFAULT) -> None:
    check_blob(message.ByteSize(), what, limits)
