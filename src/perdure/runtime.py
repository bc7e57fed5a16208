"""Telemetry for clients and workers: where metrics go, with temporalio.runtime's names.

``Client.connect(..., runtime=Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
bind_address="127.0.0.1:9000"))))`` serves ``/metrics`` at that address with the SDK's
own metrics (``temporal_request``, ``temporal_workflow_completed``,
``temporal_activity_execution_latency``, ...: the names Temporal's SDK dashboards query)
and those that workflow and activity code record through ``workflow.metric_meter()`` and
``activity.metric_meter()``. A ``MetricBuffer`` keeps the updates for the application to
forward itself. Without metrics configured, meters are no-ops.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum, IntEnum
from typing import Any, ClassVar, Self

from perdure._prometheus import MetricsHttpServer, Registry, parse_address
from perdure.common import (
    MetricAttributes,
    MetricCounter,
    MetricGauge,
    MetricGaugeFloat,
    MetricHistogram,
    MetricHistogramFloat,
    MetricHistogramTimedelta,
    MetricMeter,
)

__all__ = [
    "BufferedMetric",
    "BufferedMetricKind",
    "BufferedMetricUpdate",
    "LoggingConfig",
    "MetricBuffer",
    "MetricBufferDurationFormat",
    "PrometheusConfig",
    "Runtime",
    "TelemetryConfig",
    "TelemetryFilter",
]

DEFAULT_MS_BUCKETS = (
    1, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000,
    500000, 1000000,
)  # fmt: skip
"""Duration buckets in milliseconds (and, divided by 1000, in seconds)."""
DEFAULT_BUCKETS = (50, 100, 500, 1000, 2500, 10000)
"""Buckets of histograms of plain numbers."""


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class TelemetryFilter:
    """Log levels: ``core_level`` for the SDK's worker machinery, ``other_level`` for the rest."""

    core_level: str
    other_level: str

    def formatted(self) -> str:
        """The filter as temporalio writes it."""
        return f"{self.other_level},temporal_sdk_core={self.core_level}"


@dataclass(frozen=True)
class LoggingConfig:
    """How verbose the SDK's own loggers (``perdure.worker``, ``perdure.client``) are."""

    filter: TelemetryFilter | str
    default: ClassVar[LoggingConfig]


LoggingConfig.default = LoggingConfig(
    filter=TelemetryFilter(core_level="WARN", other_level="ERROR")
)


@dataclass(frozen=True)
class PrometheusConfig:
    """Serve ``/metrics`` at ``bind_address`` (``"127.0.0.1:9000"``; port 0: a free one)."""

    bind_address: str
    counters_total_suffix: bool = False
    """Append ``_total`` to counter names (OpenMetrics' convention)."""
    unit_suffix: bool = False
    """Append the unit to metric names that have one (``_milliseconds``, ``_seconds``)."""
    durations_as_seconds: bool = False
    """Durations as float seconds instead of integer milliseconds."""
    histogram_bucket_overrides: Mapping[str, Sequence[float]] | None = None
    """Bucket boundaries by metric name."""


class MetricBufferDurationFormat(Enum):
    """How a ``MetricBuffer`` reports durations."""

    MILLISECONDS = 1
    SECONDS = 2


class BufferedMetricKind(IntEnum):
    """What kind of metric a buffered update is for."""

    COUNTER = 0
    GAUGE = 1
    HISTOGRAM = 2


@dataclass(frozen=True)
class BufferedMetric:
    """The metric a buffered update belongs to."""

    name: str
    description: str | None
    unit: str | None
    kind: BufferedMetricKind


@dataclass(frozen=True)
class BufferedMetricUpdate:
    """One recorded value: the metric, the value and its attributes."""

    metric: BufferedMetric
    value: int | float
    attributes: MetricAttributes


class MetricBuffer:
    """Keeps metric updates (up to ``buffer_size``; older ones are dropped) until
    :py:meth:`retrieve_updates` drains them, for applications that forward metrics."""

    def __init__(
        self,
        buffer_size: int,
        duration_format: MetricBufferDurationFormat = MetricBufferDurationFormat.MILLISECONDS,
    ) -> None:
        """A buffer of ``buffer_size`` updates; drain it regularly."""
        self._updates: collections.deque[BufferedMetricUpdate] = collections.deque(
            maxlen=buffer_size
        )
        self._lock = threading.Lock()
        self.durations_as_seconds = duration_format == MetricBufferDurationFormat.SECONDS

    def retrieve_updates(self) -> Sequence[BufferedMetricUpdate]:
        """Every update since the last call, oldest first."""
        with self._lock:
            updates = list(self._updates)
            self._updates.clear()
        return updates

    def _add(self, update: BufferedMetricUpdate) -> None:
        with self._lock:
            self._updates.append(update)


@dataclass(frozen=True)
class TelemetryConfig:
    """Logging and metrics of a :py:class:`Runtime`."""

    logging: LoggingConfig | None = LoggingConfig.default
    metrics: PrometheusConfig | MetricBuffer | None = None
    global_tags: Mapping[str, str] = field(default_factory=dict)
    """Attributes added to every metric."""
    attach_service_name: bool = True
    """Add ``service_name="perdure-sdk"`` to every metric."""
    metric_prefix: str | None = None
    """Prefix of the SDK's own metric names (default ``temporal_``)."""


# --------------------------------------------------------------------------- runtime


class Runtime:
    """Where a client's and its workers' telemetry goes; pass it to ``Client.connect``."""

    _default: ClassVar[Runtime | None] = None
    _prevent_default: ClassVar[bool] = False

    @classmethod
    def default(cls) -> Runtime:
        """The runtime of clients connected without one (created on first use)."""
        if cls._default is None:
            if cls._prevent_default:
                raise RuntimeError("Cannot create default Runtime after Runtime.prevent_default")
            cls._default = Runtime(telemetry=TelemetryConfig())
        return cls._default

    @classmethod
    def prevent_default(cls) -> None:
        """Make :py:meth:`default` raise instead of creating a runtime."""
        if cls._default is not None:
            raise RuntimeError("Runtime default already set")
        cls._prevent_default = True

    @staticmethod
    def set_default(runtime: Runtime, *, error_if_already_set: bool = True) -> None:
        """Use ``runtime`` for clients connected from now on without one."""
        if Runtime._default is not None and error_if_already_set:
            raise RuntimeError("Runtime default already set")
        Runtime._default = runtime

    def __init__(
        self,
        *,
        telemetry: TelemetryConfig,
        worker_heartbeat_interval: timedelta | None = timedelta(seconds=60),
    ) -> None:
        """Start serving metrics now when ``telemetry.metrics`` is a ``PrometheusConfig``."""
        if worker_heartbeat_interval is not None and worker_heartbeat_interval <= timedelta(0):
            raise ValueError("worker_heartbeat_interval must be positive")
        self.telemetry = telemetry
        self.worker_heartbeat_interval = worker_heartbeat_interval
        self._http: MetricsHttpServer | None = None
        if telemetry.logging is not None and telemetry.logging is not LoggingConfig.default:
            _apply_logging(telemetry.logging)
        base: dict[str, str] = {}
        if telemetry.attach_service_name:
            base["service_name"] = "perdure-sdk"
        base.update(telemetry.global_tags)
        metrics = telemetry.metrics
        sink: _Sink | None = None
        if isinstance(metrics, PrometheusConfig):
            registry = Registry()
            sink = _PrometheusSink(registry, metrics)
            host, port = parse_address(metrics.bind_address)
            self._http = MetricsHttpServer(registry, host, port)
        elif isinstance(metrics, MetricBuffer):
            sink = _BufferSink(metrics)
        self.metric_meter: MetricMeter = (
            MetricMeter.noop if sink is None else _SdkMeter(sink, _pairs(base))
        )
        """The root meter: the SDK's and the application's metrics."""
        self.metric_prefix = (
            telemetry.metric_prefix if telemetry.metric_prefix is not None else "temporal_"
        )

    @property
    def metrics_port(self) -> int | None:
        """The port ``/metrics`` is served on (useful with port 0), if any."""
        return None if self._http is None else self._http.port

    def close(self) -> None:
        """Stop serving metrics."""
        if self._http is not None:
            self._http.close()
            self._http = None


def _apply_logging(config: LoggingConfig) -> None:
    level = config.filter.core_level if isinstance(config.filter, TelemetryFilter) else None
    if level is None:  # "other,temporal_sdk_core=LEVEL"
        for part in str(config.filter).split(","):
            name, _, value = part.partition("=")
            if name.strip() == "temporal_sdk_core" and value:
                level = value
    if level:
        number = logging.getLevelName(level.strip().upper().replace("WARN", "WARNING", 1))
        if isinstance(number, int):
            for name in ("perdure.worker", "perdure.service"):
                logger = logging.getLogger(name)
                if logger.level == logging.NOTSET:
                    logger.setLevel(number)


# --------------------------------------------------------------------------- meters

_Pairs = tuple[tuple[str, str], ...]


def _pairs(attributes: Mapping[str, Any]) -> _Pairs:
    return tuple(sorted((k, _label(v)) for k, v in attributes.items()))


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _merge(base: _Pairs, extra: MetricAttributes | None) -> _Pairs:
    if not extra:
        return base
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _label(value)
    return tuple(sorted(merged.items()))


class _Sink:
    """Where recorded values go."""

    def counter(self, metric: _Metric, value: float, labels: _Pairs) -> None:
        raise NotImplementedError

    def histogram(self, metric: _Metric, value: float, labels: _Pairs) -> None:
        raise NotImplementedError

    def duration(self, metric: _Metric, value: timedelta, labels: _Pairs) -> None:
        raise NotImplementedError

    def gauge(self, metric: _Metric, value: float, labels: _Pairs) -> None:
        raise NotImplementedError


class _PrometheusSink(_Sink):
    """Records into the registry; a lock, as sync activities record from their threads."""

    def __init__(self, registry: Registry, config: PrometheusConfig) -> None:
        self._registry = registry
        self._config = config
        self._overrides = dict(config.histogram_bucket_overrides or {})
        self._lock = threading.Lock()

    def _name(self, metric: _Metric, unit: str | None) -> str:
        name = metric.name
        if self._config.unit_suffix and unit:
            name = f"{name}_{unit}"
        return name

    def counter(self, metric: _Metric, value: float, labels: _Pairs) -> None:
        name = self._name(metric, metric.unit)
        if self._config.counters_total_suffix:
            name += "_total"
        with self._lock:
            self._registry.counter(name, metric.description or name, None).inc(labels, value)

    def histogram(self, metric: _Metric, value: float, labels: _Pairs) -> None:
        self._observe(metric, self._name(metric, metric.unit), value, labels, DEFAULT_BUCKETS)

    def duration(self, metric: _Metric, value: timedelta, labels: _Pairs) -> None:
        if self._config.durations_as_seconds:
            name = self._name(metric, "seconds")
            buckets: Sequence[float] = [b / 1000 for b in DEFAULT_MS_BUCKETS]
            self._observe(metric, name, value.total_seconds(), labels, buckets)
        else:
            name = self._name(metric, "milliseconds")
            ms = value // timedelta(milliseconds=1)
            self._observe(metric, name, ms, labels, DEFAULT_MS_BUCKETS)

    def _observe(
        self, metric: _Metric, name: str, value: float, labels: _Pairs, buckets: Sequence[float]
    ) -> None:
        buckets = self._overrides.get(metric.name, buckets)
        with self._lock:
            family = self._registry.histogram(name, metric.description or name, None, buckets)
            family.observe(labels, value)

    def gauge(self, metric: _Metric, value: float, labels: _Pairs) -> None:
        name = self._name(metric, metric.unit)
        with self._lock:
            self._registry.gauge(name, metric.description or name, None).set(labels, value)


class _BufferSink(_Sink):
    def __init__(self, buffer: MetricBuffer) -> None:
        self._buffer = buffer

    def _add(self, metric: _Metric, kind: BufferedMetricKind, value: float, labels: _Pairs) -> None:
        buffered = BufferedMetric(metric.name, metric.description, metric.unit, kind)
        self._buffer._add(BufferedMetricUpdate(buffered, value, dict(labels)))

    def counter(self, metric: _Metric, value: float, labels: _Pairs) -> None:
        self._add(metric, BufferedMetricKind.COUNTER, value, labels)

    def histogram(self, metric: _Metric, value: float, labels: _Pairs) -> None:
        self._add(metric, BufferedMetricKind.HISTOGRAM, value, labels)

    def duration(self, metric: _Metric, value: timedelta, labels: _Pairs) -> None:
        if self._buffer.durations_as_seconds:
            amount: float = value.total_seconds()
        else:
            amount = value // timedelta(milliseconds=1)
        self._add(metric, BufferedMetricKind.HISTOGRAM, amount, labels)

    def gauge(self, metric: _Metric, value: float, labels: _Pairs) -> None:
        self._add(metric, BufferedMetricKind.GAUGE, value, labels)


class _Metric(
    MetricCounter,
    MetricHistogram,
    MetricHistogramFloat,
    MetricHistogramTimedelta,
    MetricGauge,
    MetricGaugeFloat,
):
    """One metric of any kind; ``kind`` says which of add/record/set it accepts."""

    def __init__(
        self,
        sink: _Sink,
        kind: str,
        name: str,
        description: str | None,
        unit: str | None,
        labels: _Pairs,
    ) -> None:
        self._sink, self._kind, self._labels = sink, kind, labels
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
        labels = _merge(self._labels, additional_attributes)
        return type(self)(self._sink, self._kind, self._name, self._description, self._unit, labels)

    def add(self, value: int, additional_attributes: MetricAttributes | None = None) -> None:
        if value < 0:
            raise ValueError("Metric value must be non-negative value")
        self._sink.counter(self, value, _merge(self._labels, additional_attributes))

    def record(self, value: Any, additional_attributes: MetricAttributes | None = None) -> None:
        labels = _merge(self._labels, additional_attributes)
        if isinstance(value, timedelta):
            if value < timedelta(0):
                raise ValueError("Metric value must be non-negative value")
            self._sink.duration(self, value, labels)
            return
        if value < 0:
            raise ValueError("Metric value must be non-negative value")
        self._sink.histogram(self, value, labels)

    def set(self, value: Any, additional_attributes: MetricAttributes | None = None) -> None:
        if value < 0:
            raise ValueError("Metric value must be non-negative value")
        self._sink.gauge(self, value, _merge(self._labels, additional_attributes))


class _SdkMeter(MetricMeter):
    """A meter whose metrics go to the runtime's sink, with the meter's attributes."""

    def __init__(self, sink: _Sink, labels: _Pairs) -> None:
        self._sink = sink
        self._labels = labels

    def _make(self, kind: str, name: str, description: str | None, unit: str | None) -> _Metric:
        return _Metric(self._sink, kind, name, description, unit, self._labels)

    def create_counter(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricCounter:
        return self._make("counter", name, description, unit)

    def create_histogram(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricHistogram:
        return self._make("histogram", name, description, unit)

    def create_histogram_float(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricHistogramFloat:
        return self._make("histogram", name, description, unit)

    def create_histogram_timedelta(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricHistogramTimedelta:
        return self._make("histogram", name, description, unit)

    def create_gauge(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricGauge:
        return self._make("gauge", name, description, unit)

    def create_gauge_float(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricGaugeFloat:
        return self._make("gauge", name, description, unit)

    def with_additional_attributes(self, additional_attributes: MetricAttributes) -> MetricMeter:
        return _SdkMeter(self._sink, _merge(self._labels, additional_attributes))
