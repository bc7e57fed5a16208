"""`perdure server start-dev`'s HTTP ports: the Web UI (default: gRPC port + 1000),
Temporal's HTTP API (default: a free port), both printed at start; `--headless`."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from tests.servers import REPO, free_port


@contextmanager
def start_dev(*args: str) -> Iterator[dict[str, str]]:
    """Run start-dev; the addresses it prints ("server", "http", "ui")."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    process = subprocess.Popen(
        [sys.executable, "-m", "perdure", "server", "start-dev", "--db-filename", ":memory:",
         "--log-level", "warning", *args],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert process.stderr is not None
    printed: dict[str, str] = {}
    try:
        for line in process.stderr:
            for key, pattern in (
                ("server", r"^Perdure server: (\S+)"),
                ("http", r"^Perdure HTTP API: (\S+)"),
                ("ui", r"^Perdure Web UI: (\S+)"),
            ):
                found = re.match(pattern, line)
                if found:
                    printed[key] = found.group(1)
            if {"server", "http"} <= set(printed) and ("ui" in printed or "--headless" in args):
                break
        yield printed
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        process.stderr.close()


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


def test_start_dev_prints_and_serves_its_three_ports() -> None:
    port = free_port()
    with start_dev("--port", str(port)) as printed:
        assert printed["server"] == f"127.0.0.1:{port}"
        # Temporal's default, the gRPC port + 1000, unless another process holds it.
        if port + 1000 <= 65535 and printed["ui"] != f"http://127.0.0.1:{port + 1000}":
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port + 1000)) == 0, printed["ui"]
        status, page = _get(printed["ui"] + "/namespaces/default/workflows")
        assert status == 200 and b"/static/app.js" in page
        status, body = _get(f"http://{printed['http']}/api/v1/namespaces/default")
        assert status == 200 and json.loads(body)["namespaceInfo"]["name"] == "default"


def test_headless_serves_no_ui_and_a_taken_ui_port_is_refused() -> None:
    with start_dev("--port", str(free_port()), "--headless") as printed:
        assert "ui" not in printed and "http" in printed
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ui_port = taken.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "perdure", "server", "start-dev", "--db-filename", ":memory:",
             "--port", str(free_port()), "--ui-port", str(ui_port)],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        )  # fmt: skip
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{ui_port}: Address already in use" in out.stderr
