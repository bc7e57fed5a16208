"""Programs: a workflow body in a small JSON language, plus the client stimuli and the
points at which they are fired; and the Hypothesis strategies that generate them.

Body: {"steps": [step...], "end": {"kind": "complete" | "fail" | "continue_as_new",
"next": body}, "on_cancel": "propagate" | "complete"}. Steps (see interpreter.py):
activity, activity_cancel, timer, timer_cancel, block, hold, wait_signal, group, patched,
memo, search_attr, child, info, register (handlers registered late).

Points: a `block` step waits for the driver, which fires the point's stimuli once the
workflow task that reached it has completed, then signals "unblock"; a `hold` step keeps
its workflow task open (the worker thread waits) while the driver fires the stimuli.
Stimuli: {"at": "start" | point | "end", "kind": signal | signal_with_start | update |
query | cancel | terminate | reset | describe | list, ...}. "start" fires before any worker
polls; "end" after the run chain has closed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

Json = dict[str, Any]


@dataclass
class Program:
    body: Json
    stimuli: list[Json] = field(default_factory=list)

    def to_json(self) -> Json:
        return {"body": self.body, "stimuli": self.stimuli}

    @classmethod
    def from_json(cls, data: Json) -> Program:
        return cls(body=data["body"], stimuli=list(data.get("stimuli", [])))

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=True)

    def points(self) -> list[tuple[int, str]]:
        """The root run chain's points, in the order the workflow reaches them."""
        return list(_points(self.body))

    def ops(self) -> Iterator[str]:
        """Every step op and stimulus kind it uses (for the coverage count)."""
        yield from _ops(self.body)
        for s in self.stimuli:
            kind = s["kind"]
            detail = {"update": s.get("name", s.get("spec")), "signal": s.get("handler")}.get(kind)
            yield f"stimulus:{kind}" + (f":{detail}" if detail else "")


def _points(body: Json) -> Iterator[tuple[int, str]]:
    for step in body.get("steps", []):
        if step["op"] in ("block", "hold"):
            yield step["point"], step["op"]
    end = body.get("end", {})
    if end.get("kind") == "continue_as_new":
        yield from _points(end["next"])


def _ops(body: Json) -> Iterator[str]:
    for step in body.get("steps", []):
        yield from _step_ops(step)
    end = body.get("end", {"kind": "complete"})
    yield f"end:{end['kind']}"
    if body.get("on_cancel"):
        yield f"on_cancel:{body['on_cancel']}"
    if end["kind"] == "continue_as_new":
        yield from _ops(end["next"])


def _step_ops(step: Json) -> Iterator[str]:
    op = step["op"]
    if op == "activity":
        yield f"activity:{step['kind']}" + (":local" if step.get("local") else "")
    elif op == "activity_cancel":
        yield f"activity_cancel:{step['ctype']}"
    elif op == "child":
        yield f"child:{step.get('policy')}:{'wait' if step.get('wait', True) else 'nowait'}"
        if step.get("ctype"):
            yield f"child_cancel:{step['ctype']}"
        if step.get("signal"):
            yield "signal_external"
        if step.get("cancel"):
            yield "cancel_external"
        yield from (f"child/{o}" for o in _ops(step["body"]))
    elif op == "group":
        yield "group"
        for branch in step["branches"]:
            for s in branch:
                yield from _step_ops(s)
    else:
        yield op


# --------------------------------------------------------------------------- strategies

ACTIVITY_KINDS = ["ok", "fail_n", "nonretry", "slow", "heartbeat", "heartbeat_stop", "unpolled"]
SIGNALS = ["a", "b"]


def activity_step() -> st.SearchStrategy[Json]:
    def build(kind: str, n: int, local: bool) -> Json:
        step: Json = {"op": "activity", "kind": kind}
        if kind in ("fail_n", "heartbeat", "unpolled") and n:
            step["n"] = n
        if local and kind in ("ok", "fail_n", "nonretry", "slow"):
            step["local"] = True
        if kind == "fail_n":
            step["attempts"] = 3
        return step

    return st.builds(build, st.sampled_from(ACTIVITY_KINDS), st.integers(0, 2), st.booleans())


def simple_step() -> st.SearchStrategy[Json]:
    """Steps that need no driver: usable in groups, children and update-free bodies."""
    return st.one_of(
        activity_step(),
        st.builds(lambda s: {"op": "timer", "seconds": s}, st.sampled_from([1, 2])),
        st.just({"op": "timer_cancel", "seconds": 1}),
        st.builds(
            lambda c: {"op": "activity_cancel", "ctype": c, "after": 1},
            st.sampled_from(["TRY_CANCEL", "WAIT_CANCELLATION_COMPLETED", "ABANDON"]),
        ),
        st.builds(lambda i: {"op": "patched", "id": f"p{i}"}, st.integers(0, 1)),
        st.builds(lambda v: {"op": "memo", "value": v}, st.sampled_from(["x", "y"])),
        st.builds(lambda v: {"op": "search_attr", "value": v}, st.sampled_from(["x", "y"])),
        st.just({"op": "info"}),
    )


def child_body() -> st.SearchStrategy[Json]:
    return st.builds(
        lambda steps, end: {"steps": steps, "end": {"kind": end}},
        st.lists(
            st.one_of(
                st.builds(lambda s: {"op": "timer", "seconds": s}, st.sampled_from([1, 3])),
                st.just({"op": "activity", "kind": "ok"}),
                st.just({"op": "info"}),
            ),
            max_size=2,
        ),
        st.sampled_from(["complete", "fail"]),
    )


def child_step() -> st.SearchStrategy[Json]:
    def build(body: Json, policy: str, wait: bool, signal: bool, cancel: bool, ctype: str) -> Json:
        step: Json = {"op": "child", "body": body, "policy": policy, "wait": wait}
        if cancel or not wait:
            # The child waits for a signal never sent: a cancellation finds it running, and
            # a child nobody waits for ends only by the parent close policy (or the
            # driver's cleanup), never racing the parent's own steps.
            body = {**body, "steps": [{"op": "wait_signal", "name": "never"}]}
            step["body"] = body
            if cancel:  # waited for, so the cancellation's end never races the parent's
                step.update(cancel=True, ctype=ctype, wait=True)
        if signal:
            body = {**body, "steps": [{"op": "wait_signal", "name": "ext"}, *body["steps"]]}
            step.update(body=body, signal=True)
        return step

    return st.builds(
        build,
        child_body(),
        st.sampled_from(["TERMINATE", "ABANDON", "REQUEST_CANCEL"]),
        st.booleans(),
        st.booleans(),
        st.booleans(),
        st.sampled_from(
            ["TRY_CANCEL", "WAIT_CANCELLATION_COMPLETED", "ABANDON", "WAIT_CANCELLATION_REQUESTED"]
        ),
    )


def instant_step() -> st.SearchStrategy[Json]:
    """Steps that finish within the workflow task that runs them (no server round trip
    whose timing could race another branch)."""
    return st.one_of(
        st.builds(lambda i: {"op": "patched", "id": f"p{i}"}, st.integers(0, 1)),
        st.builds(lambda v: {"op": "memo", "value": v}, st.sampled_from(["x", "y"])),
        st.builds(lambda v: {"op": "search_attr", "value": v}, st.sampled_from(["x", "y"])),
    )


def inner_step() -> st.SearchStrategy[Json]:
    # A group has one branch that waits on the server (an activity, a timer, ...) and
    # others that finish at once: two waiting branches would race each other.
    return st.one_of(
        simple_step(),
        child_step(),
        st.builds(
            lambda timed, rest: {"op": "group", "branches": [timed, *rest]},
            st.lists(simple_step(), min_size=1, max_size=2),
            st.lists(st.lists(instant_step(), min_size=1, max_size=2), min_size=1, max_size=2),
        ),
    )


def stimulus(at: Any, resettable: bool = True) -> st.SearchStrategy[Json]:
    return st.one_of(
        st.builds(lambda n: {"at": at, "kind": "signal", "name": n}, st.sampled_from(SIGNALS)),
        st.builds(
            lambda n: {"at": at, "kind": "signal_with_start", "name": n}, st.sampled_from(SIGNALS)
        ),
        st.builds(
            lambda spec, stage, sig: {
                "at": at,
                "kind": "update",
                "spec": spec,
                "stage": stage,
                "signal": sig,
            },
            st.sampled_from(["ok", "reject", "fail", "wait", "activity"]),
            st.sampled_from(["accepted", "completed"]),
            st.sampled_from(SIGNALS),
        ),
        st.just({"at": at, "kind": "update", "spec": "ok", "name": "missing"}),
        st.just({"at": at, "kind": "update", "spec": "ok", "name": "late"}),
        st.just({"at": at, "kind": "signal", "name": "a", "handler": "late"}),
        st.builds(
            lambda n: {"at": at, "kind": "query", "name": n},
            st.sampled_from(["state", "boom", "missing"]),
        ),
        st.just({"at": at, "kind": "describe"}),
        st.just({"at": at, "kind": "list"}),
        st.just({"at": at, "kind": "cancel"}),
        st.builds(
            lambda r: {"at": at, "kind": "terminate", **({"reason": r} if r else {})},
            st.sampled_from(["", "stop"]),
        ),
        # Reset to the run's first completed workflow task (none yet at "start"), at a
        # point where no task is held, so its new run never races a running task.
        *([st.just({"at": at, "kind": "reset"})] if resettable and at != "start" else []),
    )


@st.composite
def programs(draw: st.DrawFn) -> Program:
    """A root body of up to two runs (continue-as-new), with block and hold points and
    stimuli at them, before the worker and after the end."""
    point = 0
    stimuli: list[Json] = []

    def body(depth: int) -> Json:
        nonlocal point
        steps: list[Json] = []
        for _ in range(draw(st.integers(1, 4))):
            if draw(st.integers(0, 9)) == 0:
                steps.append({"op": "register"})
            elif draw(st.integers(0, 3)) == 0:
                kind = draw(st.sampled_from(["block", "hold"]))
                steps.append({"op": kind, "point": point})
                n = draw(st.integers(0, 2))
                stimuli.extend(draw(stimulus(point, kind == "block")) for _ in range(n))
                point += 1
            else:
                steps.append(draw(inner_step()))
        b: Json = {"steps": steps}
        end = draw(st.sampled_from(["complete", "complete", "fail", "continue_as_new"]))
        if end == "continue_as_new" and depth == 0:
            b["end"] = {"kind": "continue_as_new", "next": body(1)}
        elif end != "continue_as_new":
            b["end"] = {"kind": end}
        if draw(st.booleans()):
            b["on_cancel"] = "complete"
        return b

    root = body(0)
    start = [s for s in draw(st.lists(stimulus("start"), max_size=1)) if s["kind"] != "terminate"]
    end = draw(st.lists(stimulus("end"), max_size=2))
    return Program(body=root, stimuli=start + stimuli + end)
