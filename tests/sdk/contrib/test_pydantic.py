"""The pydantic data converter: same bytes as temporalio's, models decoded by hint."""

from __future__ import annotations

import pickle
import uuid
from datetime import UTC, datetime

from pydantic import BaseModel
from temporalio.contrib.pydantic import pydantic_data_converter as theirs

from perdure.contrib.pydantic import (
    PydanticJSONPlainPayloadConverter,
    PydanticPayloadConverter,
    ToJsonOptions,
    pydantic_data_converter,
)


class Item(BaseModel):
    name: str
    qty: int = 1
    when: datetime | None = None
    ids: set[uuid.UUID] = set()


async def test_bytes_match_temporalio_and_models_round_trip() -> None:
    value = [Item(name="a", when=datetime(2024, 1, 1, tzinfo=UTC), ids={uuid.UUID(int=1)}), None]
    ours = await pydantic_data_converter.encode(value)
    assert ours == await theirs.encode(value)
    assert await pydantic_data_converter.decode(ours, [Item, None]) == value
    nested = await pydantic_data_converter.encode([value[:1]])
    assert await pydantic_data_converter.decode(nested, [list[Item]]) == [value[:1]]
    assert await pydantic_data_converter.decode(ours[:1]) == [
        {"name": "a", "qty": 1, "when": "2024-01-01T00:00:00Z", "ids": [str(uuid.UUID(int=1))]}
    ]


def test_exclude_unset_and_pickle() -> None:
    conv = PydanticJSONPlainPayloadConverter(ToJsonOptions(exclude_unset=True))
    payload = conv.to_payload(Item(name="b"))
    assert payload is not None and payload.data == b'{"name":"b"}'
    clone = pickle.loads(pickle.dumps(conv))
    assert clone.from_payload(payload, Item) == Item(name="b")
    assert PydanticPayloadConverter().to_payload(b"raw").metadata["encoding"] == b"binary/plain"
