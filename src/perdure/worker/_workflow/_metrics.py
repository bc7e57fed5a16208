"""``workflow.metric_meter()``: the worker's meter, silent while the run replays.

Workflow code runs again on every replay; a counter incremented in it must count once,
so every value recorded while replaying history is dropped, as temporalio does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

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


class ReplaySafeMeter(MetricMeter):
    """Wraps a meter: its metrics record nothing while ``replaying()``."""

    def __init__(self, meter: MetricMeter, replaying: Callable[[], bool]) -> None:
        self._meter = meter
        self._replaying = replaying

    def create_counter(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricCounter:
        return _ReplaySafe(self._meter.create_counter(name, description, unit), self._replaying)

    def create_histogram(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricHistogram:
        return _ReplaySafe(self._meter.create_histogram(name, description, unit), self._replaying)

    def create_histogram_float(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricHistogramFloat:
        metric = self._meter.create_histogram_float(name, description, unit)
        return _ReplaySafe(metric, self._replaying)

    def create_histogram_timedelta(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricHistogramTimedelta:
        metric = self._meter.create_histogram_timedelta(name, description, unit)
        return _ReplaySafe(metric, self._replaying)

    def create_gauge(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricGauge:
        return _ReplaySafe(self._meter.create_gauge(name, description, unit), self._replaying)

    def create_gauge_float(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricGaugeFloat:
        return _ReplaySafe(self._meter.create_gauge_float(name, description, unit), self._replaying)

    def with_additional_attributes(self, additional_attributes: MetricAttributes) -> MetricMeter:
        return ReplaySafeMeter(
            self._meter.with_additional_attributes(additional_attributes), self._replaying
        )


class _ReplaySafe(
    MetricCounter,
    MetricHistogram,
    MetricHistogramFloat,
    MetricHistogramTimedelta,
    MetricGauge,
    MetricGaugeFloat,
):
    def __init__(self, metric: Any, replaying: Callable[[], bool]) -> None:
        self._metric = metric
        self._replaying = replaying

    @property
    def name(self) -> str:
        return str(self._metric.name)

    @property
    def description(self) -> str | None:
        return self._metric.description  # type: ignore[no-any-return]

    @property
    def unit(self) -> str | None:
        return self._metric.unit  # type: ignore[no-any-return]

    def with_additional_attributes(self, additional_attributes: MetricAttributes) -> Self:
        return type(self)(
            self._metric.with_additional_attributes(additional_attributes), self._replaying
        )

    def add(self, value: int, additional_attributes: MetricAttributes | None = None) -> None:
        if not self._replaying():
            self._metric.add(value, additional_attributes)

    def record(self, value: Any, additional_attributes: MetricAttributes | None = None) -> None:
        if not self._replaying():
            self._metric.record(value, additional_attributes)

    def set(self, value: Any, additional_attributes: MetricAttributes | None = None) -> None:
        if not self._replaying():
            self._metric.set(value, additional_attributes)
