"""perdure.common against temporalio.common: same names, values and proto forms."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import pytest
import temporalio.common as tc
from temporalio.api.common.v1 import Payload
from temporalio.api.common.v1 import RetryPolicy as RetryPolicyProto

from perdure import common as pc


@pytest.mark.parametrize(
    "name",
    [
        "WorkflowIDReusePolicy",
        "WorkflowIDConflictPolicy",
        "QueryRejectCondition",
        "HeaderCodecBehavior",
        "SearchAttributeIndexedValueType",
        "VersioningBehavior",
        "ActivityIDReusePolicy",
        "ActivityIDConflictPolicy",
        "NexusOperationIDReusePolicy",
        "NexusOperationIDConflictPolicy",
        "NexusOperationExecutionStatus",
        "PendingNexusOperationExecutionState",
        "NexusOperationCancellationState",
    ],
)
def test_enums_match_temporalio(name: str) -> None:
    ours = {m.name: m.value for m in getattr(pc, name)}
    theirs = {m.name: m.value for m in getattr(tc, name)}
    assert ours == theirs


def test_retry_policy_proto_matches_temporalio() -> None:
    kwargs = dict(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=1.5,
        maximum_attempts=4,
        non_retryable_error_types=["Bad"],
    )
    ours, theirs = RetryPolicyProto(), RetryPolicyProto()
    pc.RetryPolicy(**kwargs).apply_to_proto(ours)  # type: ignore[arg-type]
    tc.RetryPolicy(**kwargs).apply_to_proto(theirs)  # type: ignore[arg-type]
    assert ours == theirs
    assert ours.maximum_interval.ToTimedelta() == timedelta(seconds=20)
    back = pc.RetryPolicy.from_proto(ours)
    assert back.initial_interval == timedelta(milliseconds=200)
    assert back.maximum_interval == timedelta(seconds=20)
    assert back.non_retryable_error_types == ["Bad"]
    assert pc.RetryPolicy.from_proto(RetryPolicyProto()).non_retryable_error_types is None


@pytest.mark.parametrize(
    "bad",
    [
        pc.RetryPolicy(backoff_coefficient=0.5),
        pc.RetryPolicy(initial_interval=timedelta(seconds=-1)),
        pc.RetryPolicy(maximum_interval=timedelta(milliseconds=1)),
        pc.RetryPolicy(maximum_attempts=-1),
    ],
)
def test_retry_policy_validation(bad: pc.RetryPolicy) -> None:
    with pytest.raises(ValueError):
        bad.apply_to_proto(RetryPolicyProto())
    # maximum_attempts=1 turns retries off, so the rest is not checked
    pc.RetryPolicy(backoff_coefficient=0.5, maximum_attempts=1).apply_to_proto(RetryPolicyProto())


def test_typed_search_attributes() -> None:
    kw = pc.SearchAttributeKey.for_keyword("Kw")
    num = pc.SearchAttributeKey.for_int("Num")
    kwl = pc.SearchAttributeKey.for_keyword_list("Kwl")
    attrs = pc.TypedSearchAttributes(
        [pc.SearchAttributePair(num, 3), pc.SearchAttributePair(kw, "a")]
    )
    assert [p.key.name for p in attrs] == ["Kw", "Num"]
    assert attrs[num] == 3 and attrs.get(kw) == "a" and len(attrs) == 2
    assert num in attrs and pc.SearchAttributeKey.for_float("Num") not in attrs
    assert attrs.get(kwl) is None and attrs.get(kwl, ["x"]) == ["x"]
    with pytest.raises(KeyError):
        attrs[kwl]
    updated = attrs.updated(pc.SearchAttributePair(num, 4), pc.SearchAttributePair(kwl, ["x"]))
    assert updated[num] == 4 and updated[kwl] == ["x"] and attrs[num] == 3
    with pytest.raises(ValueError, match="Duplicate"):
        pc.TypedSearchAttributes([pc.SearchAttributePair(kw, "a"), pc.SearchAttributePair(kw, "b")])
    assert kwl.origin_value_type is not None and kwl._metadata_type == "KeywordList"
    assert pc.SearchAttributeKey.for_datetime("D")._metadata_type == "Datetime"
    assert kw.value_set("z").value == "z" and kw.value_unset().value is None
    assert pc.TypedSearchAttributes.empty.search_attributes == []


def test_search_attribute_key_from_metadata_type() -> None:
    for key in (
        pc.SearchAttributeKey.for_text("a"),
        pc.SearchAttributeKey.for_bool("a"),
        pc.SearchAttributeKey.for_keyword_list("a"),
    ):
        assert pc.SearchAttributeKey._from_metadata_type("a", key._metadata_type) == key
    assert pc.SearchAttributeKey._from_metadata_type(
        "a", "INDEXED_VALUE_TYPE_DOUBLE"
    ) == pc.SearchAttributeKey.for_float("a")
    assert pc.SearchAttributeKey._from_metadata_type("a", "Nope") is None
    guess = pc.SearchAttributeKey._guess_from_untyped_values
    assert guess("a", [datetime.now(UTC)]) == pc.SearchAttributeKey.for_datetime("a")
    assert guess("a", ["x", "y"]) == pc.SearchAttributeKey.for_keyword_list("a")


def test_priority_proto_matches_temporalio() -> None:
    for kwargs in ({}, {"priority_key": 2, "fairness_key": "t", "fairness_weight": 2.5}):
        assert pc.Priority(**kwargs)._to_proto() == tc.Priority(**kwargs)._to_proto()  # type: ignore[arg-type]
    assert pc.Priority._from_proto(pc.Priority(priority_key=1)._to_proto()) == pc.Priority(1)
    with pytest.raises(ValueError):
        pc.Priority(priority_key=0)


def test_raw_value_pickles() -> None:
    raw = pc.RawValue(Payload(metadata={"encoding": b"json/plain"}, data=b"1"))
    assert pickle.loads(pickle.dumps(raw)) == raw


def test_versioning_override_protos_match_temporalio() -> None:
    ours = pc.PinnedVersioningOverride(pc.WorkerDeploymentVersion("d", "b1"))
    theirs = tc.PinnedVersioningOverride(tc.WorkerDeploymentVersion("d", "b1"))
    assert ours._to_proto() == theirs._to_proto()
    assert (
        pc.AutoUpgradeVersioningOverride()._to_proto()
        == tc.AutoUpgradeVersioningOverride()._to_proto()
    )
    assert pc.WorkerDeploymentVersion.from_canonical_string("d.b.1") == pc.WorkerDeploymentVersion(
        "d", "b.1"
    )
    with pytest.raises(ValueError):
        pc.WorkerDeploymentVersion.from_canonical_string("nodot")


def test_public_names_match_temporalio() -> None:
    public = {n for n in dir(tc) if not n.startswith("_") and n[0].isupper()}
    public -= {"Any", "ClassVar", "Generic", "TypeAlias", "TypeVar", "NamedTuple", "Self", "ABC"}
    public -= {"Callable", "Collection", "Iterator", "Mapping", "Sequence", "IntEnum"}
    assert sorted(n for n in public if not hasattr(pc, n)) == []


def test_noop_metric_meter() -> None:
    meter = pc.MetricMeter.noop.with_additional_attributes({"a": 1})
    counter = meter.create_counter("c", "desc", "u")
    counter.add(1)
    meter.create_histogram_timedelta("h").record(timedelta(seconds=1))
    meter.create_gauge_float("g").with_additional_attributes({"b": 2}).set(1.5)
    assert (counter.name, counter.description, counter.unit) == ("c", "desc", "u")


def test_type_hints_from_func() -> None:
    class Thing:
        def method(self, a: int, b: str) -> bool:
            return True

    def kw_only(a: int, *, b: str) -> None:
        return None

    def untyped(a, b: int):  # type: ignore[no-untyped-def]
        return None

    assert pc._type_hints_from_func(Thing.method) == ([int, str], bool)
    assert pc._type_hints_from_func(Thing().method) == ([int, str], bool)
    assert pc._type_hints_from_func(kw_only) == (None, type(None))
    assert pc._type_hints_from_func(untyped) == tc._type_hints_from_func(untyped)
    assert pc._arg_or_args(pc._arg_unset, [1]) == [1]
    assert pc._arg_or_args(None, []) == [None]
    with pytest.raises(ValueError):
        pc._arg_or_args(1, [2])
