"""engine/tokens.py: one token type per task kind, with the wire format tokens always had."""

from __future__ import annotations

import pytest

from perdure.server.engine import tokens
from perdure.server.engine.tokens import ActivityTaskToken, QueryTaskToken, WorkflowTaskToken
from perdure.server.errors import InvalidArgument

# Tokens as the engine wrote them before each task kind had its own type: workers may
# still hold them (and stored tasks name them), so they must keep decoding the same.
WRITTEN_BEFORE = [
    (
        b"\x9a\x01\x01\xa2ns\xa2wf\xa3run\x07\x02\x0c\xa0\xa0",
        WorkflowTaskToken("ns", "wf", "run", seq=7, attempt=2, started_event_id=12),
    ),
    (
        b"\x9a\x01\x02\xa2ns\xa2wf\xa3run\x05\x03\x00\xa3act\xa0",
        ActivityTaskToken("ns", "wf", "run", scheduled_event_id=5, attempt=3, activity_id="act"),
    ),
    (
        b"\x9a\x01\x03\xa2ns\xa2wf\xa3run\x00\x00\x00\xa0\xa2q1",
        QueryTaskToken("ns", "wf", "run", query_id="q1"),
    ),
]


@pytest.mark.parametrize(("data", "token"), WRITTEN_BEFORE)
def test_tokens_decode_and_encode_as_before(data: bytes, token: tokens.TaskToken) -> None:
    assert tokens.decode(data) == token
    assert token.encode() == data


def test_a_token_for_another_kind_of_task_is_refused() -> None:
    activity = WRITTEN_BEFORE[1][0]
    with pytest.raises(InvalidArgument, match="not for a workflow task"):
        tokens.decode_workflow_task(activity)
    with pytest.raises(InvalidArgument, match="not for a query task"):
        tokens.decode_query_task(activity)
    assert tokens.decode_activity_task(activity) == WRITTEN_BEFORE[1][1]
    with pytest.raises(InvalidArgument, match="not for an activity task"):
        tokens.decode_activity_task(WRITTEN_BEFORE[0][0])


@pytest.mark.parametrize("data", [b"", b"\x01", b"\x93\x02\x01\x01", b"\x9a\x01\x09" + b"\x00" * 8])
def test_garbage_is_an_invalid_argument(data: bytes) -> None:
    with pytest.raises(InvalidArgument, match="Error deserializing task token"):
        tokens.decode(data)
