"""OperatorService Add/Remove/ListSearchAttributes over an alias map, with the real
server's messages and quirks (adding an existing name or removing an unknown one is a
silent no-op)."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import IndexedValueType as T

from perdure.server.errors import InvalidArgument
from perdure.server.visibility import (
    add_search_attributes,
    list_search_attributes,
    remove_search_attributes,
    removed_columns,
)

REAL_SERVER_SYSTEM_ATTRIBUTES = {
    # What ListSearchAttributes answers on the Temporal 1.32 dev server.
    "BatcherNamespace": 2, "BatcherUser": 2, "BinaryChecksums": 7, "BuildIds": 7,
    "CloseTime": 6, "ExecutionDuration": 3, "ExecutionStatus": 2, "ExecutionTime": 6,
    "HistoryLength": 3, "HistorySizeBytes": 3, "ParentRunId": 2, "ParentWorkflowId": 2,
    "RootRunId": 2, "RootWorkflowId": 2, "RunId": 2, "StartTime": 6,
    "StateTransitionCount": 3, "TaskQueue": 2, "TemporalChangeVersion": 7,
    "TemporalExternalPayloadCount": 3, "TemporalExternalPayloadSizeBytes": 3,
    "TemporalNamespaceDivision": 2, "TemporalPauseInfo": 7, "TemporalReportedProblems": 7,
    "TemporalSchedulePaused": 5, "TemporalScheduledById": 2, "TemporalScheduledStartTime": 6,
    "TemporalUsedWorkerDeploymentVersions": 7, "TemporalWorkerDeployment": 2,
    "TemporalWorkerDeploymentVersion": 2, "TemporalWorkflowVersioningBehavior": 2,
    "WorkflowId": 2, "WorkflowType": 2,
}  # fmt: skip


def test_add_takes_the_lowest_free_column_of_the_type() -> None:
    aliases = add_search_attributes({}, {"CustomerId": T.INDEXED_VALUE_TYPE_KEYWORD})
    assert aliases == {"Keyword01": "CustomerId"}
    aliases = add_search_attributes(
        {"Keyword02": "Other"},
        {"B": T.INDEXED_VALUE_TYPE_KEYWORD, "A": T.INDEXED_VALUE_TYPE_KEYWORD,
         "Amount": T.INDEXED_VALUE_TYPE_DOUBLE, "Tags": T.INDEXED_VALUE_TYPE_KEYWORD_LIST},
    )  # fmt: skip
    assert aliases == {
        "Keyword02": "Other", "Keyword01": "A", "Keyword03": "B", "Double01": "Amount",
        "KeywordList01": "Tags",
    }  # fmt: skip


def test_add_does_not_change_its_input() -> None:
    original = {"Keyword01": "A"}
    add_search_attributes(original, {"B": T.INDEXED_VALUE_TYPE_KEYWORD})
    assert original == {"Keyword01": "A"}


def test_adding_an_existing_name_is_a_no_op_whatever_the_type() -> None:
    aliases = {"Keyword01": "A"}
    assert add_search_attributes(aliases, {"A": T.INDEXED_VALUE_TYPE_KEYWORD}) == aliases
    assert add_search_attributes(aliases, {"A": T.INDEXED_VALUE_TYPE_INT}) == aliases


def test_names_are_free_form_like_the_real_server() -> None:
    for name in ("my attr", "1abc", "a-b.c", "Keyword05", "x" * 300):
        assert add_search_attributes({}, {name: T.INDEXED_VALUE_TYPE_KEYWORD}) == {
            "Keyword01": name
        }


def test_full_slots() -> None:
    aliases = {"Bool01": "A", "Bool02": "B", "Bool03": "C"}
    with pytest.raises(InvalidArgument) as info:
        add_search_attributes(aliases, {"D": T.INDEXED_VALUE_TYPE_BOOL})
    assert info.value.message == (
        "Unable to create search attributes: cannot have more than 3 search attribute of type Bool."
    )
    # All or nothing: the Text that fits is not added either.
    with pytest.raises(InvalidArgument, match="more than 3 search attribute of type Text"):
        add_search_attributes(
            {"Text01": "T0"},
            {"T1": T.INDEXED_VALUE_TYPE_TEXT, "T2": T.INDEXED_VALUE_TYPE_TEXT,
             "T3": T.INDEXED_VALUE_TYPE_TEXT},
        )  # fmt: skip


@pytest.mark.parametrize(
    ("to_add", "message"),
    [
        ({}, "SearchAttributes are not set on request."),
        ({"WorkflowId": T.INDEXED_VALUE_TYPE_KEYWORD}, "Search attribute WorkflowId is reserved "
                                                       "by system."),
        ({"BuildIds": T.INDEXED_VALUE_TYPE_KEYWORD_LIST}, "Search attribute BuildIds is reserved"),
        ({"TemporalFoo": T.INDEXED_VALUE_TYPE_KEYWORD}, "Search attribute TemporalFoo is reserved"),
        ({"Zed": T.INDEXED_VALUE_TYPE_UNSPECIFIED}, "Unable to create search attributes: cannot "
                                                    "have more than 0 search attribute of type "
                                                    "Unspecified."),
        ({"Zed": 99}, "Unknown search attribute type: 99."),
        ({"": T.INDEXED_VALUE_TYPE_KEYWORD}, "Search attribute name must not be empty."),
    ],
)  # fmt: skip
def test_add_errors(to_add: dict[str, int], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        add_search_attributes({}, to_add)
    assert message in info.value.message


def test_remove() -> None:
    aliases = {"Keyword01": "A", "Int01": "B", "Keyword02": "C"}
    assert remove_search_attributes(aliases, ["A", "Nope"]) == {"Int01": "B", "Keyword02": "C"}
    assert remove_search_attributes(aliases, ["Nope"]) == aliases
    assert removed_columns(aliases, ["A", "C", "Nope"]) == ["Keyword01", "Keyword02"]
    with pytest.raises(InvalidArgument, match=r"^SearchAttributes are not set on request\.$"):
        remove_search_attributes(aliases, [])
    with pytest.raises(InvalidArgument) as info:
        remove_search_attributes(aliases, ["A", "WorkflowId", "BuildIds"])
    assert info.value.message == (
        "Unable to remove non-custom search attributes: WorkflowId, BuildIds."
    )


def test_list() -> None:
    listing = list_search_attributes({"Keyword01": "A", "KeywordList02": "Tags", "Bogus9": "X"})
    assert listing.custom == {"A": 2, "Tags": 7}
    assert listing.system == REAL_SERVER_SYSTEM_ATTRIBUTES
