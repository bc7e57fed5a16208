"""The metric meter interface, and a meter that records nothing."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Self, TypeAlias

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
