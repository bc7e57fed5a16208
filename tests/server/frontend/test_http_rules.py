"""Routes derived from the google.api.http options of Temporal's service protos."""

from __future__ import annotations

from perdure.server.frontend.http_rules import Match, Router, parse_template, temporal_rules


def test_rules_cover_the_documented_paths() -> None:
    router = Router(temporal_rules())
    start = router.match("POST", "/api/v1/namespaces/default/workflows/w1")
    assert isinstance(start, Match)
    assert start.rule.method == "StartWorkflowExecution"
    assert start.variables == {("namespace",): "default", ("workflow_id",): "w1"}
    history = router.match("GET", "/api/v1/namespaces/ns/workflows/w1/history")
    assert isinstance(history, Match)
    assert history.rule.method == "GetWorkflowExecutionHistory"
    assert history.variables[("execution", "workflow_id")] == "w1"
    listed = router.match("GET", "/api/v1/namespaces")
    assert isinstance(listed, Match) and listed.rule.method == "ListNamespaces"
    operator = router.match("GET", "/api/v1/namespaces/ns/search-attributes")
    assert operator is None or isinstance(operator, Match)


def test_segments_are_decoded_after_splitting() -> None:
    router = Router(temporal_rules())
    found = router.match("GET", "/api/v1/namespaces/default/workflows/a%2Fb%20%C3%A9")
    assert isinstance(found, Match)
    assert found.variables[("execution", "workflow_id")] == "a/b é"


def test_unknown_paths_and_methods() -> None:
    router = Router(temporal_rules())
    assert router.match("GET", "/api/v1/nothing") is None
    assert router.match("PUT", "/api/v1/namespaces/default/workflows/w") == "method"


def test_parse_template() -> None:
    segments = parse_template("/a/{x.y_z}/b")
    assert [s.literal for s in segments] == ["a", None, "b"]
    assert segments[1].field_path == ("x", "y_z")
