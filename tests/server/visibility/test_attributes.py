"""Search attribute payloads of a start/upsert: validation, columns and list form.

Accepted and refused values, and the messages, follow the real server's answers to
StartWorkflowExecution with the same payloads.
"""

from __future__ import annotations

import json

import pytest
from temporalio.api.common.v1 import Payload, SearchAttributes

from perdure.server.errors import InvalidArgument
from perdure.server.visibility import (
    annotate_types,
    decode_search_attributes,
    group_values,
    search_attribute_columns,
    visibility_search_attributes,
)
from perdure.server.visibility.attributes import format_datetime
from tests.server.visibility.dataset import ALIASES, payload, search_attributes


def one(name: str, p: Payload) -> SearchAttributes:
    return SearchAttributes(indexed_fields={name: p})


def columns(**values: object) -> dict[str, object]:
    return dict(search_attribute_columns(search_attributes(**values), ALIASES, namespace="ns"))


def test_columns_in_stored_form() -> None:
    assert columns(
        MyKw="alpha",
        MyText="Hello, World!",
        MyInt=-3,
        MyDouble=5,
        MyBool=False,
        MyDt="2024-01-01T01:00:00.5+01:00",
        MyKwl=["a", "ü"],
    ) == {
        "Keyword01": "alpha",
        "Text01": " hello world ",
        "Int01": -3,
        "Double01": 5.0,
        "Bool01": False,
        "Datetime01": 1_704_067_200_500_000_000,
        "KeywordList01": '["a","ü"]',
    }


def test_predefined_attributes() -> None:
    assert columns(
        TemporalChangeVersion=["p-1"],
        BuildIds=["b"],
        BatcherUser="me",
        TemporalSchedulePaused=True,
        TemporalScheduledStartTime="1970-01-01T00:00:01Z",
        TemporalNamespaceDivision="TemporalScheduler",
        TemporalPauseInfo=["x"],  # settable, but without a column: blob only
        BatcherNamespace="ns",
        TemporalReportedProblems=["p"],
    ) == {
        "TemporalChangeVersion": '["p-1"]',
        "BuildIds": '["b"]',
        "BatcherUser": "me",
        "TemporalSchedulePaused": True,
        "TemporalScheduledStartTime": 1_000_000_000,
        "TemporalNamespaceDivision": "TemporalScheduler",
    }


def test_unset_and_empty_values_are_null() -> None:
    assert columns(MyKw=None, MyKwl=[]) == {"Keyword01": None, "KeywordList01": None}
    assert columns(MyKwl=["a", None]) == {"KeywordList01": '["a",""]'}
    assert columns(MyKw="") == {"Keyword01": ""}


def test_a_list_of_the_type_stands_for_its_element() -> None:
    assert columns(MyKw=["k"], MyInt=[7], MyDouble=[2], MyBool=[True], MyText=["Hi there"]) == {
        "Keyword01": "k",
        "Int01": 7,
        "Double01": 2.0,
        "Bool01": True,
        "Text01": " hi there ",
    }
    assert columns(MyDt=["2024-01-01T00:00:00Z"], MyKwl=[["a", "b"]]) == {
        "Datetime01": 1_704_067_200_000_000_000,
        "KeywordList01": '["a","b"]',
    }
    # A null element is the type's zero value, as Go decodes it; an empty list unsets.
    assert columns(MyKw=[None], MyInt=[None], MyBool=[None]) == {
        "Keyword01": "",
        "Int01": 0,
        "Bool01": False,
    }
    assert columns(MyKw=[], MyInt=[], MyDt=[]) == {
        "Keyword01": None,
        "Int01": None,
        "Datetime01": None,
    }


def test_list_forms_list_as_their_element() -> None:
    sa = search_attributes(MyKw=["k"], MyDouble=[2], MyInt=[None], MyKwl=[["a"]], MyBool=[])
    listed = visibility_search_attributes(sa, ALIASES)
    assert {name: p.data for name, p in listed.indexed_fields.items()} == {
        "MyKw": b'"k"',
        "MyDouble": b"2",
        "MyInt": b"0",
        "MyKwl": b'["a"]',
    }
    described = annotate_types(search_attributes(MyKw=None, MyInt=[], MyBool=[True]), ALIASES)
    assert list(described.indexed_fields) == ["MyBool"]


def test_registered_type_decides_not_the_metadata() -> None:
    sa = one("MyKw", payload("x", "Int"))
    assert search_attribute_columns(sa, ALIASES) == {"Keyword01": "x"}
    sa = one("MyKw", Payload(metadata={"encoding": b"json/plain", "type": b"Foo"}, data=b'"x"'))
    assert search_attribute_columns(sa, ALIASES) == {"Keyword01": "x"}


INVALID = [
    ("MyKw", payload(5), "invalid value for search attribute MyKw of type Keyword: 5"),
    ("MyKw", payload(["a", "b"]), "MyKw of type Keyword: [a b]"),
    ("MyInt", payload("5"), "MyInt of type Int: 5"),
    ("MyInt", payload(5.5), "MyInt of type Int: 5.5"),
    ("MyInt", payload(5.0), "MyInt of type Int: 5"),
    ("MyInt", payload(b"1e3"), "MyInt of type Int: 1000"),
    ("MyInt", payload(b"99999999999999999999"), "MyInt of type Int: 1e+20"),
    ("MyInt", payload([1, 2]), "MyInt of type Int: [1 2]"),
    ("MyInt", payload(True), "MyInt of type Int: true"),
    ("MyDouble", payload("1.5"), "MyDouble of type Double: 1.5"),
    ("MyDouble", payload(b"NaN"), "MyDouble of type Double: NaN"),
    ("MyDouble", payload(b"1e400"), "MyDouble of type Double: +Inf"),
    ("MyBool", payload("true"), "MyBool of type Bool: true"),
    ("MyBool", payload(1), "MyBool of type Bool: 1"),
    ("MyDt", payload("2024-01-01"), "MyDt of type Datetime: 2024-01-01"),
    ("MyDt", payload("2024-01-01T00:00:00"), "MyDt of type Datetime: 2024-01-01T00:00:00"),
    ("MyDt", payload(1704067200), "MyDt of type Datetime: 1.7040672e+09"),
    ("MyKwl", payload("a"), "MyKwl of type KeywordList: a"),
    ("MyKwl", payload([1, 2]), "MyKwl of type KeywordList: [1 2]"),
    ("MyKwl", payload([["a"], ["b"]]), "MyKwl of type KeywordList: [[a] [b]]"),
    ("MyKw", payload([["a"]]), "MyKw of type Keyword: [[a]]"),
    ("MyKw", payload(["a", None]), "MyKw of type Keyword: [a <nil>]"),
    ("MyInt", payload([1.5]), "MyInt of type Int: [1.5]"),
    ("MyBool", payload([[True]]), "MyBool of type Bool: [[true]]"),
    ("MyText", payload(5), "MyText of type Text: 5"),
    ("MyText", payload(["a b", "c"]), "MyText of type Text: [a b c]"),
    ("MyKw", payload("a\x00b"), "MyKw of type Keyword"),
    ("MyKw", Payload(metadata={"encoding": b"json/plain"}, data=b""), "MyKw of type Keyword"),
    ("MyKw", payload(b"{not json"), "MyKw of type Keyword: not JSON"),
    ("MyKw", Payload(metadata={"encoding": b"binary/plain"}, data=b"x"), "is not json/plain"),
    ("MyKw", Payload(data=b'"x"'), "payload encoding '' is not json/plain"),
]


@pytest.mark.parametrize(("name", "p", "message"), INVALID)
def test_invalid_values(name: str, p: Payload, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        search_attribute_columns(one(name, p), ALIASES)
    assert info.value.message.startswith(f"invalid value for search attribute {name} of type ")
    assert message in info.value.message


@pytest.mark.parametrize(
    "name",
    ["WorkflowId", "RunId", "ExecutionStatus", "StartTime", "CloseTime", "TaskQueue",
     "ExecutionDuration", "HistoryLength", "ParentWorkflowId", "RootRunId",
     "TemporalWorkerDeployment", "TemporalWorkerDeploymentVersion",
     "TemporalWorkflowVersioningBehavior", "TemporalUsedWorkerDeploymentVersions",
     "TemporalExternalPayloadCount", "TemporalExternalPayloadSizeBytes"],
)  # fmt: skip
def test_server_managed_attributes_cannot_be_set(name: str) -> None:
    with pytest.raises(
        InvalidArgument, match=f"^{name} attribute can't be set in SearchAttributes$"
    ):
        search_attribute_columns(one(name, payload("x")), ALIASES)


def test_the_engine_may_set_server_managed_predefined_attributes() -> None:
    sa = one("TemporalWorkerDeployment", payload("dep"))
    assert search_attribute_columns(sa, ALIASES, allow_server_set=True) == {
        "TemporalWorkerDeployment": "dep"
    }
    with pytest.raises(InvalidArgument, match="WorkflowId attribute can't be set"):
        search_attribute_columns(one("WorkflowId", payload("x")), ALIASES, allow_server_set=True)


def test_unknown_names() -> None:
    for name in ("Nope", "Keyword01", "ScheduledStartTime", "mykw"):
        with pytest.raises(InvalidArgument) as info:
            search_attribute_columns(one(name, payload("x")), ALIASES, namespace="default")
        assert info.value.message == (
            f"Namespace default has no mapping defined for search attribute {name}"
        )


def test_size_limits() -> None:
    with pytest.raises(InvalidArgument) as info:
        search_attribute_columns(one("MyKw", payload("x" * 3000)), ALIASES)
    assert info.value.message == "search attribute MyKw value size 3002 exceeds size limit 2048"
    big = search_attributes(**{alias: "x" * 2000 for alias in ("MyKw", "Owner", "MyText")})
    with pytest.raises(InvalidArgument, match=r"total size of search attributes \d+ exceeds size"):
        decode_search_attributes(big, ALIASES, total_size_limit=5000)
    with pytest.raises(InvalidArgument, match="number of search attributes 3 exceeds limit 2"):
        decode_search_attributes(big, ALIASES, number_of_keys_limit=2)


def test_visibility_form_is_typed_and_normalized() -> None:
    sa = search_attributes(
        MyKw="x",
        MyKwl=["a", None],
        MyDt="2024-01-01T02:00:00.123456789000+02:00",
        MyDouble=5,
        MyInt=None,
    )
    out = visibility_search_attributes(sa, ALIASES)
    fields = out.indexed_fields
    assert set(fields) == {"MyKw", "MyKwl", "MyDt", "MyDouble"}
    assert {k: v.metadata["type"] for k, v in fields.items()} == {
        "MyKw": b"Keyword", "MyKwl": b"KeywordList", "MyDt": b"Datetime", "MyDouble": b"Double",
    }  # fmt: skip
    assert json.loads(fields["MyKwl"].data) == ["a", ""]
    assert json.loads(fields["MyDt"].data) == "2024-01-01T00:00:00.123456789Z"
    assert fields["MyDouble"].data == b"5"


def test_format_datetime() -> None:
    assert format_datetime(0) == "1970-01-01T00:00:00Z"
    assert format_datetime(1_500_000_000) == "1970-01-01T00:00:01.5Z"
    assert format_datetime(-1) == "1969-12-31T23:59:59.999999999Z"
    assert format_datetime(-(2**63)) == "0001-01-01T00:00:00Z"  # Go's zero time, clamped


def test_annotate_types_adds_only_missing_types() -> None:
    sa = SearchAttributes(
        indexed_fields={
            "MyKw": payload("x"),
            "MyInt": payload(1, "Keyword"),
            "WorkflowId": payload("w"),
            "Nope": payload("n"),
        }
    )
    out = annotate_types(sa, ALIASES)
    meta = {k: v.metadata.get("type") for k, v in out.indexed_fields.items()}
    assert meta == {"MyKw": b"Keyword", "MyInt": b"Keyword", "WorkflowId": b"Keyword", "Nope": None}
    assert "type" not in sa.indexed_fields["MyKw"].metadata  # the input is left alone


def test_group_values_as_the_real_server_reports_them() -> None:
    (value,) = group_values(("status",), (4,))
    assert value.data == b'"Canceled"'
    assert dict(value.metadata) == {"encoding": b"json/plain", "type": b"Keyword"}
    with pytest.raises(ValueError, match="no Temporal form"):
        group_values(("workflow_type",), ("x",))


def test_skip_invalid_reindexes_what_still_fits() -> None:
    sa = SearchAttributes(
        indexed_fields={
            "MyKw": payload("ok"),
            "Removed": payload("gone"),  # no longer registered
            "MyInt": payload("not an int"),  # re-typed since
            "WorkflowId": payload("w"),
            "Owner": payload("x" * 5000),  # past the size limit
        }
    )
    assert search_attribute_columns(sa, ALIASES, skip_invalid=True) == {
        "Keyword01": "ok",
        "Keyword02": "x" * 5000,
    }
    kept = visibility_search_attributes(sa, ALIASES, skip_invalid=True)
    assert set(kept.indexed_fields) == {"MyKw", "Owner"}
    with pytest.raises(InvalidArgument):
        search_attribute_columns(sa, ALIASES)
