"""server/ids.py: run ids as Temporal makes them."""

from __future__ import annotations

import uuid

from perdure.server.ids import uuid4, uuid7


def test_uuid7_carries_the_time_and_sorts_by_it() -> None:
    first = uuid7(1_700_000_000_000)
    later = uuid7(1_700_000_000_001)
    parsed = uuid.UUID(first)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == 1_700_000_000_000
    assert first < later
    assert uuid7() != uuid7()


def test_uuid4_is_random() -> None:
    assert uuid.UUID(uuid4()).version == 4
