"""A small Prometheus registry and its text exposition, shared by the server and the SDK.

Why not prometheus_client's metric classes: they name every counter ``<name>_total``,
while Temporal's server and SDKs export ``service_requests``, ``workflow_success``,
``temporal_workflow_completed`` without the suffix, and Temporal's dashboards query those
names. The hot path here is one dict lookup on a tuple of label values and an addition,
without locks: metrics are recorded from one event loop, and exposition (on another
thread) copies each series map before it iterates it. Any Prometheus scraper, and
prometheus_client's own parser, reads the output.
"""

from __future__ import annotations

import bisect
import http.server
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

LabelValues = tuple[str, ...] | tuple[tuple[str, str], ...]
"""Label values in the family's ``labelnames`` order; for a family without fixed names
(``labelnames=None``, the SDK's user metrics), sorted ``(name, value)`` pairs."""

LATENCY_BUCKETS_SECONDS = (
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0,
)  # fmt: skip
"""Temporal's server latency buckets (seconds)."""

COUNT_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)
"""Sizes and counts (events per history, writes per batch)."""

BYTES_BUCKETS = tuple(float(1 << n) for n in range(10, 27, 2))
"""1 KiB .. 64 MiB in powers of four."""


class _Family:
    kind = ""

    def __init__(self, name: str, help: str, labelnames: Sequence[str] | None) -> None:
        self.name = name
        self.help = help
        self.labelnames = None if labelnames is None else tuple(labelnames)

    def lines(self) -> Iterable[str]:
        raise NotImplementedError

    def _labels(self, values: Any, extra: str = "") -> str:
        if self.labelnames is None:
            pairs: Iterable[tuple[str, str]] = values
        else:
            pairs = zip(self.labelnames, values, strict=True)
        parts = [f'{n}="{_escape_value(str(v))}"' for n, v in pairs]
        if extra:
            parts.append(extra)
        return "{" + ",".join(parts) + "}" if parts else ""


class Counter(_Family):
    """A monotonically growing count per label values."""

    kind = "counter"

    def __init__(self, name: str, help: str, labelnames: Sequence[str] | None) -> None:
        super().__init__(name, help, labelnames)
        self.series: dict[LabelValues, float] = {}

    def inc(self, labels: LabelValues, amount: float = 1) -> None:
        """Add ``amount`` to the series of ``labels`` (values in ``labelnames`` order)."""
        series = self.series
        series[labels] = series.get(labels, 0) + amount

    def value(self, labels: LabelValues) -> float:
        """The current count (0 when never incremented)."""
        return self.series.get(labels, 0)

    def lines(self) -> Iterable[str]:
        for labels, value in list(self.series.items()):
            yield f"{self.name}{self._labels(labels)} {_number(value)}"


class Gauge(_Family):
    """A value that goes up and down per label values; ``callback`` series are read at scrape."""

    kind = "gauge"

    def __init__(
        self,
        name: str,
        help: str,
        labelnames: Sequence[str] | None,
        callback: Callable[[], Iterable[tuple[LabelValues, float]]] | None = None,
    ) -> None:
        super().__init__(name, help, labelnames)
        self.series: dict[LabelValues, float] = {}
        self._callback = callback

    def set(self, labels: LabelValues, value: float) -> None:
        """Set the series of ``labels``."""
        self.series[labels] = value

    def inc(self, labels: LabelValues, amount: float = 1) -> None:
        """Move the series of ``labels`` by ``amount`` (negative to decrease)."""
        series = self.series
        series[labels] = series.get(labels, 0) + amount

    def lines(self) -> Iterable[str]:
        items = list(self.series.items())
        if self._callback is not None:
            items.extend(self._callback())
        for labels, value in items:
            yield f"{self.name}{self._labels(labels)} {_number(value)}"


class Histogram(_Family):
    """Counts of observations per bucket, with their sum and count, per label values."""

    kind = "histogram"

    def __init__(
        self, name: str, help: str, labelnames: Sequence[str] | None, buckets: Sequence[float]
    ) -> None:
        super().__init__(name, help, labelnames)
        self.buckets = tuple(sorted(buckets))
        self.series: dict[LabelValues, list[float]] = {}
        """Per label values: one count per bucket, then +Inf's, then the sum."""

    def observe(self, labels: LabelValues, value: float) -> None:
        """Record ``value`` in the series of ``labels``."""
        row = self.series.get(labels)
        if row is None:
            row = self.series[labels] = [0.0] * (len(self.buckets) + 2)
        row[bisect.bisect_left(self.buckets, value)] += 1
        row[-1] += value

    def count(self, labels: LabelValues) -> int:
        """How many values were recorded."""
        row = self.series.get(labels)
        return 0 if row is None else int(sum(row[:-1]))

    def lines(self) -> Iterable[str]:
        for labels, row in list(self.series.items()):
            row = list(row)
            running = 0.0
            for bound, n in zip((*self.buckets, math.inf), row[:-1], strict=True):
                running += n
                le = "+Inf" if bound == math.inf else _number(bound)
                where = self._labels(labels, f'le="{le}"')
                yield f"{self.name}_bucket{where} {_number(running)}"
            yield f"{self.name}_sum{self._labels(labels)} {_number(row[-1])}"
            yield f"{self.name}_count{self._labels(labels)} {_number(running)}"


F = TypeVar("F", bound=_Family)


class Registry:
    """The metric families of one server or one SDK runtime, by name."""

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}

    def counter(self, name: str, help: str, labelnames: Sequence[str] | None = ()) -> Counter:
        """The counter ``name`` (created on first use)."""
        return self._get(name, lambda: Counter(name, help, labelnames), Counter)

    def gauge(
        self,
        name: str,
        help: str,
        labelnames: Sequence[str] | None = (),
        callback: Callable[[], Iterable[tuple[LabelValues, float]]] | None = None,
    ) -> Gauge:
        """The gauge ``name`` (created on first use)."""
        return self._get(name, lambda: Gauge(name, help, labelnames, callback), Gauge)

    def histogram(
        self,
        name: str,
        help: str,
        labelnames: Sequence[str] | None = (),
        buckets: Sequence[float] = LATENCY_BUCKETS_SECONDS,
    ) -> Histogram:
        """The histogram ``name`` (created on first use)."""
        return self._get(name, lambda: Histogram(name, help, labelnames, buckets), Histogram)

    def _get(self, name: str, make: Callable[[], F], kind: type[F]) -> F:
        found = self._families.get(name)
        if found is None:
            found = self._families[name] = make()
        if not isinstance(found, kind):
            raise ValueError(f"metric {name} is a {found.kind}, not a {kind.__name__.lower()}")
        return found

    def expose(self) -> str:
        """The Prometheus text format (version 0.0.4) of every family."""
        out: list[str] = []
        for family in list(self._families.values()):
            out.append(f"# HELP {family.name} {_escape_help(family.help)}")
            out.append(f"# TYPE {family.name} {family.kind}")
            out.extend(family.lines())
        out.append("")
        return "\n".join(out)


class MetricsHttpServer:
    """Serves ``GET /metrics`` from a registry on a thread of its own."""

    def __init__(self, registry: Registry, host: str, port: int) -> None:
        """Bind now (port 0 picks a free one: see ``port``); serve in the background."""
        expose = registry.expose

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] not in ("/metrics", "/"):
                    self.send_error(404)
                    return
                body = expose().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="perdure-metrics", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` (``:port`` or a bare port means every interface)."""
    host, _, port = address.rpartition(":")
    return (host.strip("[]") or "0.0.0.0"), int(port)


def _escape_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))
