"""The package as a user gets it: built, installed into a fresh venv, run from there.

Builds the sdist and, from it, the wheel (``python -m build``), installs the wheel with its
dependencies into a new virtual environment, and runs the installed ``perdure`` command, a
server that answers GetSystemInfo, and the greeting example, with nothing from this
checkout's ``src/`` on the path.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

import grpc
import pytest
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure import __version__

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
GET_SYSTEM_INFO = "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo"


@dataclass(frozen=True)
class Installed:
    wheel: Path
    sdist: Path
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a command of the venv from the repository root, without this checkout's src."""
        return subprocess.run(
            args, cwd=ROOT, env=_clean_env(), capture_output=True, text=True, timeout=timeout
        )


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def _check(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"{done.args}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    out = tmp_path_factory.mktemp("dist")
    _check(
        subprocess.run(
            [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    )
    (wheel,) = out.glob("perdure-*.whl")
    (sdist,) = out.glob("perdure-*.tar.gz")
    venv = tmp_path_factory.mktemp("venv")
    _check(subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=60))
    # This interpreter's pip installs into the new venv (faster than bootstrapping its own).
    _check(
        subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
             "install", "--quiet", "--disable-pip-version-check", str(wheel)],
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
    )  # fmt: skip
    return Installed(wheel, sdist, venv)


def test_wheel_metadata_and_license(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = wheel.namelist()
        dist_info = f"perdure-{__version__}.dist-info"
        metadata = Parser().parsestr(wheel.read(f"{dist_info}/METADATA").decode())
        assert "MIT License" in wheel.read(f"{dist_info}/licenses/LICENSE").decode()
    assert metadata["Name"] == "perdure" and metadata["Version"] == __version__
    assert metadata["Author"] == "Perdure developers"
    assert metadata["License-Expression"] == "MIT"
    assert "Typing :: Typed" in metadata.get_all("Classifier")
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert "perdure/py.typed" in names
    # The Web UI is package data: the wheel carries every file of it.
    for static in ("index.html", "app.js", "detail.js", "style.css"):
        assert f"perdure/server/ui/static/{static}" in names
    assert not any(name.startswith(("tests/", "examples/")) for name in names)


def test_installed_command_reports_the_version(installed: Installed) -> None:
    where = _check(
        installed.run(str(installed.python), "-c", "import perdure; print(perdure.__file__)")
    )
    assert where.stdout.strip().startswith(str(installed.venv))
    version = _check(installed.run(str(installed.venv / "bin" / "perdure"), "--version"))
    assert version.stdout.strip() == f"perdure {__version__}"


@pytest.fixture(scope="module")
def server(installed: Installed) -> Iterator[str]:
    """The installed ``perdure server start-dev`` on a free port, in memory."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [str(installed.venv / "bin" / "perdure"), "server", "start-dev",
         "--port", str(port), "--db-filename", ":memory:", "--log-level", "warning"],
        cwd=ROOT, env=_clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        yield f"127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def test_installed_server_answers_get_system_info(server: str) -> None:
    deadline = time.monotonic() + 30
    with grpc.insecure_channel(server) as channel:
        call = channel.unary_unary(
            GET_SYSTEM_INFO,
            request_serializer=rr.GetSystemInfoRequest.SerializeToString,
            response_deserializer=rr.GetSystemInfoResponse.FromString,
        )
        while True:
            try:
                info = call(rr.GetSystemInfoRequest(), timeout=5)
                break
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    assert info.capabilities.signal_and_query_header


def test_greeting_example_runs_on_the_installed_package(installed: Installed, server: str) -> None:
    python = str(installed.python)
    embedded = _check(installed.run(python, "-m", "examples.greeting", "Ada"))
    assert embedded.stdout == "Hello, Ada!\n"
    remote = _check(installed.run(python, "-m", "examples.greeting", "--target", server, "Grace"))
    assert remote.stdout == "Hello, Grace!\n"


def test_sdist_carries_docs_examples_and_changelog(installed: Installed) -> None:
    import tarfile

    with tarfile.open(installed.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"LICENSE", "CHANGELOG.md", "README.md", "mkdocs.yml"} <= names
    assert "docs/index.md" in names and "examples/greeting/workflows.py" in names
