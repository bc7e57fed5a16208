"""perdure._prometheus: the registry and text format the server and the SDK serve."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from perdure._prometheus import MetricsHttpServer, Registry, parse_address


def _parse(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    return {
        family.name: [(s.name, s.labels, s.value) for s in family.samples]
        for family in text_string_to_metric_families(text)
    }


def test_counter_gauge_histogram_in_text_format() -> None:
    registry = Registry()
    requests = registry.counter("service_requests", "Requests.", ("operation", "namespace"))
    requests.inc(("Start", "default"))
    requests.inc(("Start", "default"), 2)
    requests.inc(("Signal", 'we"ird\\ns\n'))
    registry.gauge("backlog", "Waiting.", ("queue",)).set(("q1",), 4)
    latency = registry.histogram("service_latency", "Seconds.", ("operation",), (0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0):
        latency.observe(("Start",), value)
    text = registry.expose()
    assert "# TYPE service_requests counter\nservice_requests{" in text  # no _total
    parsed = _parse(text)
    assert ("service_requests_total", {"operation": "Start", "namespace": "default"}, 3) in (
        parsed["service_requests"]
    )
    assert any(labels["namespace"] == 'we"ird\\ns\n' for _, labels, _ in parsed["service_requests"])
    assert parsed["backlog"] == [("backlog", {"queue": "q1"}, 4)]
    buckets = {s[1]["le"]: s[2] for s in parsed["service_latency"] if s[0].endswith("_bucket")}
    assert buckets == {"0.1": 2, "1": 3, "+Inf": 4}  # cumulative, le as Temporal writes it
    assert ("service_latency_count", {"operation": "Start"}, 4) in parsed["service_latency"]
    assert ("service_latency_sum", {"operation": "Start"}, 3.65) in parsed["service_latency"]
    assert latency.count(("Start",)) == 4 and requests.value(("Start", "default")) == 3


def test_free_form_labels_and_callback_gauges() -> None:
    registry = Registry()
    registry.counter("app_calls", "Calls.", None).inc((("color", "blue"), ("k", "v")), 5)
    registry.gauge("slots", "Slots.", ("kind",), lambda: [(("wf",), 3.0)])
    parsed = _parse(registry.expose())
    assert parsed["app_calls"] == [("app_calls_total", {"color": "blue", "k": "v"}, 5)]
    assert parsed["slots"] == [("slots", {"kind": "wf"}, 3)]
    with pytest.raises(ValueError, match="is a counter"):
        registry.gauge("app_calls", "Calls.")


def test_http_server_and_addresses() -> None:
    registry = Registry()
    registry.counter("up", "Up.").inc(())
    server = MetricsHttpServer(registry, "127.0.0.1", 0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics") as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert "up 1" in response.read().decode()
    finally:
        server.close()
    assert parse_address("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert parse_address(":9000") == ("0.0.0.0", 9000)
    assert parse_address("[::1]:9000") == ("::1", 9000)
