"""Values shared by the client, workflows and activities (mirrors ``temporalio.common``).

Retry policies, id reuse/conflict policies, search attributes (typed and legacy),
priorities, raw payloads, versioning values and the metric meter interface. Each value
that travels on the wire knows how to turn itself into its Temporal API proto.
"""

from __future__ import annotations

import inspect
import itertools
import types
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import (
    Any,
    ClassVar,
    Generic,
    NamedTuple,
    Self,
    TypeAlias,
    TypeVar,
    get_origin,
    get_type_hints,
    overload,
)

from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.deployment.v1 import message_pb2 as deployment_pb
from temporalio.api.enums.v1 import common_pb2 as enums_common_pb
from temporalio.api.enums.v1 import query_pb2 as enums_query_pb
from temporalio.api.enums.v1 import workflow_pb2 as enums_workflow_pb
from temporalio.api.workflow.v1 import message_pb2 as workflow_pb

_T = TypeVar("_T")

# --------------------------------------------------------------------------- retry


@dataclass
class RetryPolicy:
    """How a failed workflow or activity is retried (Temporal's retry policy)."""

    initial_interval: timedelta = timedelta(seconds=1)
    """Delay before the first retry."""

    backoff_coefficient: float = 2.0
    """Each retry delay is the previous one times this coefficient."""

    maximum_interval: timedelta | None = None
    """Upper bound of the delay; ``None`` means 100 x :py:attr:`initial_interval`."""

    maximum_attempts: int = 0
    """Attempts allowed in total; 0 means unlimited, 1 means no retry."""

    non_retryable_error_types: Sequence[str] | None = None
    """Application error types that are never retried."""

    @staticmethod
    def from_proto(proto: common_pb.RetryPolicy) -> RetryPolicy:
        """Build a policy from its Temporal API form."""
        return RetryPolicy(
            initial_interval=proto.initial_interval.ToTimedelta(),
            backoff_coefficient=proto.backoff_coefficient,
            maximum_interval=(
                proto.maximum_interval.ToTimedelta() if proto.HasField("maximum_interval") else None
            ),
            maximum_attempts=proto.maximum_attempts,
            non_retryable_error_types=list(proto.non_retryable_error_types) or None,
        )

    def apply_to_proto(self, proto: common_pb.RetryPolicy) -> None:
        """Validate the policy and write it into ``proto``."""
        self._validate()
        proto.initial_interval.FromTimedelta(self.initial_interval)
        proto.backoff_coefficient = self.backoff_coefficient
        proto.maximum_interval.FromTimedelta(self.maximum_interval or self.initial_interval * 100)
        proto.maximum_attempts = self.maximum_attempts
        if self.non_retryable_error_types:
            proto.non_retryable_error_types.extend(self.non_retryable_error_types)

    def _validate(self) -> None:
        if self.maximum_attempts == 1:
            return  # retries are off: the other fields do not matter
        if self.initial_interval < timedelta(0):
            raise ValueError("Initial interval cannot be negative")
        if self.backoff_coefficient < 1:
            raise ValueError("Backoff coefficient cannot be less than 1")
        if self.maximum_interval:
            if self.maximum_interval < timedelta(0):
                raise ValueError("Maximum interval cannot be negative")
            if self.maximum_interval < self.initial_interval:
                raise ValueError("Maximum interval cannot be less than initial interval")
        if self.maximum_attempts < 0:
            raise ValueError("Maximum attempts cannot be negative")


# --------------------------------------------------------------------------- policies

_Reuse = enums_workflow_pb.WorkflowIdReusePolicy
_Conflict = enums_workflow_pb.WorkflowIdConflictPolicy


class WorkflowIDReusePolicy(IntEnum):
    """What a start does when a closed workflow already used the id."""

    ALLOW_DUPLICATE = _Reuse.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
    ALLOW_DUPLICATE_FAILED_ONLY = _Reuse.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
    REJECT_DUPLICATE = _Reuse.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
    TERMINATE_IF_RUNNING = _Reuse.WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING


class WorkflowIDConflictPolicy(IntEnum):
    """What a start does when a workflow with the id is still running."""

    UNSPECIFIED = _Conflict.WORKFLOW_ID_CONFLICT_POLICY_UNSPECIFIED
    FAIL = _Conflict.WORKFLOW_ID_CONFLICT_POLICY_FAIL
    USE_EXISTING = _Conflict.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
    TERMINATE_EXISTING = _Conflict.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING


class QueryRejectCondition(IntEnum):
    """When the server refuses a query instead of running it."""

    NONE = enums_query_pb.QUERY_REJECT_CONDITION_NONE
    NOT_OPEN = enums_query_pb.QUERY_REJECT_CONDITION_NOT_OPEN
    NOT_COMPLETED_CLEANLY = enums_query_pb.QUERY_REJECT_CONDITION_NOT_COMPLETED_CLEANLY


class HeaderCodecBehavior(IntEnum):
    """Whether the payload codec also encodes and decodes headers."""

    NO_CODEC = 1
    """Headers pass through untouched."""
    CODEC = 2
    """Headers are encoded and decoded like any payload."""
    WORKFLOW_ONLY_CODEC = 3
    """Only the worker's workflow activations encode and decode headers."""


# --------------------------------------------------------------------------- raw value


@dataclass(frozen=True)
class RawValue:
    """A payload left unconverted, so code can pass it through or convert it later."""

    payload: common_pb.Payload

    def __getstate__(self) -> object:
        """Pickle as a version byte plus the serialized payload."""
        return b"1" + self.payload.SerializeToString()

    def __setstate__(self, state: object) -> None:
        """Restore from :py:meth:`__getstate__`'s form."""
        if not isinstance(state, bytes):
            raise TypeError(f"Expected bytes state, got {type(state)}")
        if state[:1] != b"1":
            raise ValueError("Bad version prefix")
        object.__setattr__(self, "payload", common_pb.Payload.FromString(state[1:]))


# --------------------------------------------------------------------------- search attributes

# Legacy (untyped) form: always lists, so a lone string is caught as a mistake.
SearchAttributeValues: TypeAlias = list[str] | list[int] | list[float] | list[bool] | list[datetime]
"""Values of one legacy (untyped) search attribute."""

SearchAttributes: TypeAlias = Mapping[str, SearchAttributeValues]
"""Legacy (untyped) search attributes, by name. Prefer :py:class:`TypedSearchAttributes`."""

SearchAttributeValue: TypeAlias = str | int | float | bool | datetime | Sequence[str]
"""Any value a typed search attribute can hold."""

SearchAttributeValueType = TypeVar(
    "SearchAttributeValueType", str, int, float, bool, datetime, Sequence[str]
)
"""The value type of a typed search attribute key."""

_Indexed = enums_common_pb.IndexedValueType


class SearchAttributeIndexedValueType(IntEnum):
    """How the server indexes a search attribute."""

    TEXT = _Indexed.INDEXED_VALUE_TYPE_TEXT
    KEYWORD = _Indexed.INDEXED_VALUE_TYPE_KEYWORD
    INT = _Indexed.INDEXED_VALUE_TYPE_INT
    DOUBLE = _Indexed.INDEXED_VALUE_TYPE_DOUBLE
    BOOL = _Indexed.INDEXED_VALUE_TYPE_BOOL
    DATETIME = _Indexed.INDEXED_VALUE_TYPE_DATETIME
    KEYWORD_LIST = _Indexed.INDEXED_VALUE_TYPE_KEYWORD_LIST


# Payload metadata "type" names as the server and the official SDKs write them.
_METADATA_TYPE_NAMES: dict[SearchAttributeIndexedValueType, str] = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}
_PYTHON_TYPES: dict[SearchAttributeIndexedValueType, Any] = {
    SearchAttributeIndexedValueType.TEXT: str,
    SearchAttributeIndexedValueType.KEYWORD: str,
    SearchAttributeIndexedValueType.INT: int,
    SearchAttributeIndexedValueType.DOUBLE: float,
    SearchAttributeIndexedValueType.BOOL: bool,
    SearchAttributeIndexedValueType.DATETIME: datetime,
    SearchAttributeIndexedValueType.KEYWORD_LIST: Sequence[str],
}


class SearchAttributeKey(ABC, Generic[SearchAttributeValueType]):
    """A search attribute's name and index type; make one with a ``for_*`` method."""

    @property
    @abstractmethod
    def name(self) -> str:
        """The attribute's name."""

    @property
    @abstractmethod
    def indexed_value_type(self) -> SearchAttributeIndexedValueType:
        """How the server indexes the attribute."""

    @property
    @abstractmethod
    def value_type(self) -> type[SearchAttributeValueType]:
        """The Python type of values (may be generic; see :py:attr:`origin_value_type`)."""

    @property
    def origin_value_type(self) -> type:
        """The value type without generics, usable with ``isinstance``."""
        origin = get_origin(self.value_type)
        return origin if origin is not None else self.value_type

    @property
    def _metadata_type(self) -> str:
        try:
            return _METADATA_TYPE_NAMES[self.indexed_value_type]
        except KeyError:
            raise ValueError(f"Unrecognized type: {self}") from None

    def value_set(
        self, value: SearchAttributeValueType
    ) -> SearchAttributeUpdate[SearchAttributeValueType]:
        """An update that sets this attribute to ``value``."""
        return _SearchAttributeUpdate(self, value)

    def value_unset(self) -> SearchAttributeUpdate[SearchAttributeValueType]:
        """An update that removes this attribute."""
        return _SearchAttributeUpdate(self, None)

    @staticmethod
    def for_text(name: str) -> SearchAttributeKey[str]:
        """A ``Text`` (full-text indexed) key."""
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.TEXT, str)

    @staticmethod
    def for_keyword(name: str) -> SearchAttributeKey[str]:
        """A ``Keyword`` (exact match) key."""
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.KEYWORD, str)

    @staticmethod
    def for_int(name: str) -> SearchAttributeKey[int]:
        """An ``Int`` key."""
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.INT, int)

    @staticmethod
    def for_float(name: str) -> SearchAttributeKey[float]:
        """A ``Double`` key."""
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.DOUBLE, float)

    @staticmethod
    def for_bool(name: str) -> SearchAttributeKey[bool]:
        """A ``Bool`` key."""
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.BOOL, bool)

    @staticmethod
    def for_datetime(name: str) -> SearchAttributeKey[datetime]:
        """A ``Datetime`` key."""
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.DATETIME, datetime)

    @staticmethod
    def for_keyword_list(name: str) -> SearchAttributeKey[Sequence[str]]:
        """A ``KeywordList`` key."""
        value_type: Any = Sequence[str]
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.KEYWORD_LIST, value_type)

    @staticmethod
    def _from_metadata_type(name: str, metadata_type: str) -> SearchAttributeKey | None:
        # Usually PascalCase ("KeywordList"), sometimes the enum name
        # ("INDEXED_VALUE_TYPE_KEYWORD_LIST").
        for indexed, type_name in _METADATA_TYPE_NAMES.items():
            enum_name = _Indexed.Name(indexed.value)  # type: ignore[arg-type]
            if metadata_type in (type_name, enum_name):
                return _SearchAttributeKey(name, indexed, _PYTHON_TYPES[indexed])
        return None

    @staticmethod
    def _guess_from_untyped_values(
        name: str, vals: SearchAttributeValues
    ) -> SearchAttributeKey | None:
        if not vals:
            return None
        first = vals[0]
        if len(vals) > 1:
            return SearchAttributeKey.for_keyword_list(name) if isinstance(first, str) else None
        if isinstance(first, str):
            return SearchAttributeKey.for_keyword(name)
        if isinstance(first, bool):
            return SearchAttributeKey.for_bool(name)
        if isinstance(first, int):
            return SearchAttributeKey.for_int(name)
        if isinstance(first, float):
            return SearchAttributeKey.for_float(name)
        if isinstance(first, datetime):
            return SearchAttributeKey.for_datetime(name)
        return None


@dataclass(frozen=True)
class _SearchAttributeKey(SearchAttributeKey[SearchAttributeValueType]):
    _name: str
    _indexed_value_type: SearchAttributeIndexedValueType
    _value_type: type[SearchAttributeValueType]

    @property
    def name(self) -> str:
        return self._name

    @property
    def indexed_value_type(self) -> SearchAttributeIndexedValueType:
        return self._indexed_value_type

    @property
    def value_type(self) -> type[SearchAttributeValueType]:
        return self._value_type


class SearchAttributePair(NamedTuple, Generic[SearchAttributeValueType]):
    """A typed search attribute key with its value."""

    key: SearchAttributeKey[SearchAttributeValueType]
    value: SearchAttributeValueType


class SearchAttributeUpdate(ABC, Generic[SearchAttributeValueType]):
    """A change to one search attribute: set a value, or unset it."""

    @property
    @abstractmethod
    def key(self) -> SearchAttributeKey[SearchAttributeValueType]:
        """The attribute being changed."""

    @property
    @abstractmethod
    def value(self) -> SearchAttributeValueType | None:
        """The new value, or ``None`` to unset."""


@dataclass(frozen=True)
class _SearchAttributeUpdate(SearchAttributeUpdate[SearchAttributeValueType]):
    _key: SearchAttributeKey[SearchAttributeValueType]
    _value: SearchAttributeValueType | None

    @property
    def key(self) -> SearchAttributeKey[SearchAttributeValueType]:
        return self._key

    @property
    def value(self) -> SearchAttributeValueType | None:
        return self._value


@dataclass(frozen=True)
class TypedSearchAttributes(Collection[SearchAttributePair]):
    """An immutable set of typed search attributes, sorted by name, names unique."""

    search_attributes: Sequence[SearchAttributePair]
    """The pairs, sorted by key name. Do not mutate; build a new instance instead."""

    empty: ClassVar[TypedSearchAttributes]
    """The empty collection."""

    def __post_init__(self) -> None:
        """Sort the pairs by name and refuse duplicate names."""
        pairs = sorted(self.search_attributes, key=lambda pair: pair.key.name)
        for before, after in itertools.pairwise(pairs):
            if before.key.name == after.key.name:
                raise ValueError(
                    f"Duplicate search attribute entries found for key {after.key.name}"
                )
        object.__setattr__(self, "search_attributes", pairs)

    def __len__(self) -> int:
        """Number of attributes."""
        return len(self.search_attributes)

    def __iter__(self) -> Iterator[SearchAttributePair]:
        """Iterate over the pairs in name order."""
        return iter(self.search_attributes)

    def __contains__(self, key: object) -> bool:
        """Whether a key equal to ``key`` (same name and type) is present."""
        return any(pair.key == key for pair in self.search_attributes)

    def __getitem__(
        self, key: SearchAttributeKey[SearchAttributeValueType]
    ) -> SearchAttributeValueType:
        """The value for ``key``; ``KeyError`` when absent."""
        for pair in self.search_attributes:
            if pair.key == key:
                value: SearchAttributeValueType = pair.value
                return value
        raise KeyError(key.name)

    @overload
    def get(
        self, key: SearchAttributeKey[SearchAttributeValueType]
    ) -> SearchAttributeValueType | None: ...

    @overload
    def get(
        self, key: SearchAttributeKey[SearchAttributeValueType], default: _T
    ) -> SearchAttributeValueType | _T: ...

    def get(self, key: SearchAttributeKey[SearchAttributeValueType], default: Any = None) -> Any:
        """The value for ``key``, or ``default`` when absent (like ``dict.get``)."""
        try:
            return self[key]
        except KeyError:
            return default

    def updated(self, *search_attributes: SearchAttributePair) -> TypedSearchAttributes:
        """A copy with these pairs added, replacing pairs of the same name."""
        by_name = {pair.key.name: pair for pair in self.search_attributes}
        for pair in search_attributes:
            by_name[pair.key.name] = pair
        return TypedSearchAttributes(list(by_name.values()))


TypedSearchAttributes.empty = TypedSearchAttributes(search_attributes=[])


def _warn_on_deprecated_search_attributes(attributes: object, stack_level: int = 2) -> None:
    """Warn once per call site that dict-based search attributes are deprecated."""
    if attributes and isinstance(attributes, Mapping):
        warnings.warn(
            "Dictionary-based search attributes are deprecated",
            DeprecationWarning,
            stacklevel=1 + stack_level,
        )


# --------------------------------------------------------------------------- priority


@dataclass(frozen=True)
class Priority:
    """Ordering and fairness of tasks that wait in a backlogged task queue.

    Unset fields inherit from the calling workflow, or take the server default.
    """

    priority_key: int | None = None
    """1..n, smaller runs sooner; the server default is the middle (3 of 1..5)."""

    fairness_key: str | None = None
    """A short key (e.g. a tenant id) that tasks are balanced over by weight."""

    fairness_weight: float | None = None
    """The weight of :py:attr:`fairness_key` (server clamps to 0.001..1000, default 1.0)."""

    default: ClassVar[Priority]
    """Nothing set: inherit everything."""

    def __post_init__(self) -> None:
        """Refuse a non-integer or non-positive priority key."""
        if self.priority_key is not None:
            if not isinstance(self.priority_key, int):
                raise TypeError("priority_key must be an integer")
            if self.priority_key < 1:
                raise ValueError("priority_key must be a positive integer")

    @staticmethod
    def _from_proto(proto: common_pb.Priority) -> Priority:
        return Priority(
            priority_key=proto.priority_key or None,
            fairness_key=proto.fairness_key or None,
            fairness_weight=proto.fairness_weight or None,
        )

    def _to_proto(self) -> common_pb.Priority:
        proto = common_pb.Priority(priority_key=self.priority_key or 0)
        if self.fairness_key is not None:
            proto.fairness_key = self.fairness_key
        if self.fairness_weight is not None:
            proto.fairness_weight = self.fairness_weight
        return proto


Priority.default = Priority()


# --------------------------------------------------------------------------- versioning

_Behavior = enums_workflow_pb.VersioningBehavior


class VersioningBehavior(IntEnum):
    """Whether a workflow stays on its worker build or moves to the current one."""

    UNSPECIFIED = _Behavior.VERSIONING_BEHAVIOR_UNSPECIFIED
    """Not set (versioned workers must choose one)."""
    PINNED = _Behavior.VERSIONING_BEHAVIOR_PINNED
    """Stay on the build that started it unless moved by hand."""
    AUTO_UPGRADE = _Behavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE
    """Move to the current build on the next workflow task."""


@dataclass(frozen=True)
class WorkerDeploymentVersion:
    """One build of one worker deployment."""

    deployment_name: str
    build_id: str

    def to_canonical_string(self) -> str:
        """``<deployment_name>.<build_id>``."""
        return f"{self.deployment_name}.{self.build_id}"

    @staticmethod
    def from_canonical_string(canonical: str) -> WorkerDeploymentVersion:
        """Parse ``<deployment_name>.<build_id>`` (the name cannot contain a dot)."""
        name, dot, build_id = canonical.partition(".")
        if not dot:
            raise ValueError(
                f"Cannot parse version string: {canonical}, "
                "must be in format <deployment_name>.<build_id>"
            )
        return WorkerDeploymentVersion(name, build_id)

    def _to_proto(self) -> deployment_pb.WorkerDeploymentVersion:
        return deployment_pb.WorkerDeploymentVersion(
            deployment_name=self.deployment_name, build_id=self.build_id
        )


class VersioningOverride(ABC):
    """An override of a workflow's versioning behavior."""

    @abstractmethod
    def _to_proto(self) -> workflow_pb.VersioningOverride:
        """The Temporal API form."""


@dataclass(frozen=True)
class PinnedVersioningOverride(VersioningOverride):
    """Pin the workflow to one deployment version."""

    version: WorkerDeploymentVersion

    def _to_proto(self) -> workflow_pb.VersioningOverride:
        override = workflow_pb.VersioningOverride
        return override(
            # The deprecated fields too, for older servers.
            behavior=_Behavior.VERSIONING_BEHAVIOR_PINNED,
            pinned_version=self.version.to_canonical_string(),
            pinned=override.PinnedOverride(
                version=self.version._to_proto(),
                behavior=override.PinnedOverrideBehavior.PINNED_OVERRIDE_BEHAVIOR_PINNED,
            ),
        )


@dataclass(frozen=True)
class AutoUpgradeVersioningOverride(VersioningOverride):
    """Move the workflow to the current deployment version on its next task."""

    def _to_proto(self) -> workflow_pb.VersioningOverride:
        return workflow_pb.VersioningOverride(
            behavior=_Behavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE, auto_upgrade=True
        )


# --------------------------------------------------------------------------- metrics

MetricAttributes: TypeAlias = Mapping[str, str | int | float | bool]
"""Labels attached to a metric value."""


class MetricCommon(ABC):
    """What every metric has: a name, a description, a unit, attributes."""

    @property
    @abstractmethod
    def name(self) -> str:
        """Metric name."""

    @property
    @abstractmethod
    def description(self) -> str | None:
        """Metric description."""

    @property
    @abstractmethod
    def unit(self) -> str | None:
        """Metric unit."""

    @abstractmethod
    def with_additional_attributes(self, additional_attributes: MetricAttributes) -> Self:
        """A copy of this metric that adds these attributes to every value."""


class MetricCounter(MetricCommon):
    """A monotonically growing count."""

    @abstractmethod
    def add(self, value: int, additional_attributes: MetricAttributes | None = None) -> None:
        """Add a non-negative amount."""


class MetricHistogram(MetricCommon):
    """A distribution of integers."""

    @abstractmethod
    def record(self, value: int, additional_attributes: MetricAttributes | None = None) -> None:
        """Record a non-negative value."""


class MetricHistogramFloat(MetricCommon):
    """A distribution of floats."""

    @abstractmethod
    def record(self, value: float, additional_attributes: MetricAttributes | None = None) -> None:
        """Record a non-negative value."""


class MetricHistogramTimedelta(MetricCommon):
    """A distribution of durations (millisecond precision)."""

    @abstractmethod
    def record(
        self, value: timedelta, additional_attributes: MetricAttributes | None = None
    ) -> None:
        """Record a non-negative duration."""


class MetricGauge(MetricCommon):
    """An integer that goes up and down."""

    @abstractmethod
    def set(self, value: int, additional_attributes: MetricAttributes | None = None) -> None:
        """Set the current value."""


class MetricGaugeFloat(MetricCommon):
    """A float that goes up and down."""

    @abstractmethod
    def set(self, value: float, additional_attributes: MetricAttributes | None = None) -> None:
        """Set the current value."""


class MetricMeter(ABC):
    """Creates metrics; :py:attr:`noop` discards everything."""

    noop: ClassVar[MetricMeter]
    """A meter whose metrics record nothing."""

    @abstractmethod
    def create_counter(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricCounter:
        """A counter."""

    @abstractmethod
    def create_histogram(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricHistogram:
        """An integer histogram."""

    @abstractmethod
    def create_histogram_float(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricHistogramFloat:
        """A float histogram."""

    @abstractmethod
    def create_histogram_timedelta(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricHistogramTimedelta:
        """A duration histogram."""

    @abstractmethod
    def create_gauge(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricGauge:
        """An integer gauge."""

    @abstractmethod
    def create_gauge_float(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricGaugeFloat:
        """A float gauge."""

    @abstractmethod
    def with_additional_attributes(self, additional_attributes: MetricAttributes) -> MetricMeter:
        """A meter whose metrics all carry these extra attributes."""


class _NoopMetric(
    MetricCounter,
    MetricHistogram,
    MetricHistogramFloat,
    MetricHistogramTimedelta,
    MetricGauge,
    MetricGaugeFloat,
):
    """One class plays every metric kind: all it does is remember its name."""

    def __init__(self, name: str, description: str | None, unit: str | None) -> None:
        self._name, self._description, self._unit = name, description, unit

    @property
    def name(self) -> str:
        return self._name

    @property
    def description(self) -> str | None:
        return self._description

    @property
    def unit(self) -> str | None:
        return self._unit

    def with_additional_attributes(self, additional_attributes: MetricAttributes) -> Self:
        return self

    def add(self, value: int, additional_attributes: MetricAttributes | None = None) -> None:
        pass

    def record(self, value: Any, additional_attributes: MetricAttributes | None = None) -> None:
        pass

    def set(self, value: Any, additional_attributes: MetricAttributes | None = None) -> None:
        pass


class _NoopMetricMeter(MetricMeter):
    def create_counter(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricCounter:
        return _NoopMetric(name, description, unit)

    def create_histogram(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricHistogram:
        return _NoopMetric(name, description, unit)

    def create_histogram_float(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricHistogramFloat:
        return _NoopMetric(name, description, unit)

    def create_histogram_timedelta(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricHistogramTimedelta:
        return _NoopMetric(name, description, unit)

    def create_gauge(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricGauge:
        return _NoopMetric(name, description, unit)

    def create_gauge_float(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricGaugeFloat:
        return _NoopMetric(name, description, unit)

    def with_additional_attributes(self, additional_attributes: MetricAttributes) -> MetricMeter:
        return self


MetricMeter.noop = _NoopMetricMeter()


# --------------------------------------------------------------------------- SDK helpers

# Marks "no single argument given" where None is a legitimate argument.
_arg_unset: Any = object()


def _arg_or_args(arg: Any, args: Sequence[Any]) -> Sequence[Any]:
    """Merge the ``arg=`` / ``args=`` pair that SDK calls accept into one sequence."""
    if arg is _arg_unset:
        return args
    if args:
        raise ValueError("Cannot have arg and args")
    return [arg]


def _apply_headers(source: Mapping[str, common_pb.Payload] | None, dest: Any) -> None:
    """Copy header payloads into a proto map field (message maps cannot be assigned)."""
    if source is None:
        return
    for key, payload in source.items():
        dest[key].CopyFrom(payload)


_BUILTIN_CALLABLES = (
    type(type.__call__),
    type(all.__call__),  # type: ignore[attr-defined,operator]
    type(int.__dict__["from_bytes"]),
    types.BuiltinFunctionType,
)


def _type_hints_from_func(func: Callable[..., Any]) -> tuple[list[Any] | None, Any]:
    """The positional parameter types and the return type of ``func``.

    Parameter types are ``None`` when any parameter is keyword-only or variadic, since
    payloads then cannot be matched to parameters by position; an unannotated parameter
    has a ``None`` hint (decoded without a target type). A leading unannotated ``self``
    is skipped.
    """
    if (
        not inspect.isfunction(func)
        and not isinstance(func, _BUILTIN_CALLABLES)
        and not isinstance(func, types.MethodType)
    ):
        owner = func if isinstance(func, type) else type(func)
        call = getattr(owner, "__call__", None)  # noqa: B004 - we want the method itself
        if call is not None and not isinstance(owner, _BUILTIN_CALLABLES):
            func = call
    hints = get_type_hints(func)
    ret = hints.get("return")
    params: list[Any] = []
    for index, param in enumerate(inspect.signature(func).parameters.values()):
        if (
            index == 0
            and param.name == "self"
            and (
                param.annotation is inspect.Parameter.empty
                or str(param.annotation) == "typing.Self"
            )
        ):
            continue
        if param.kind not in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            return None, ret
        params.append(hints.get(param.name))
    return params, ret
