"""The TLS and authorization settings of `perdure server start`, and the refusal to
serve the network unprotected."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from perdure.cli.security import dynamic_config, exposure_problem, security_settings
from perdure.cli.server import load_config
from perdure.server.security.authorization import AuthorizationInterceptor
from perdure.server.security.config import SettingsError
from tests.certs import Pki
from tests.servers import REPO, free_port


def _args(**over: object) -> argparse.Namespace:
    base: dict[str, object] = {
        "tls_cert": None, "tls_key": None, "tls_client_ca": [], "jwks_file": [],
        "jwt_key_file": [], "jwt_audience": None,
    }  # fmt: skip
    base.update(over)
    return argparse.Namespace(**base)


def test_exposure_needs_tls_authorization_or_insecure_off_loopback() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert exposure_problem(host, False, False, False) is None
    problem = exposure_problem("0.0.0.0", False, False, False)
    assert problem is not None and "--insecure" in problem
    assert exposure_problem("0.0.0.0", True, False, False) is None
    assert exposure_problem("10.0.0.5", False, True, False) is None
    assert exposure_problem("0.0.0.0", False, False, True) is None


def test_tls_and_authorization_sections_of_the_settings_file(tmp_path: Path) -> None:
    Pki.make().server.write(tmp_path / "certs", "server")
    path = tmp_path / "perdure.toml"
    path.write_text(
        '[server]\nport = 7300\n\n[tls]\ncert_file = "certs/server.pem"\n'
        'key_file = "certs/server-key.pem"\n\n[authorization]\n'
        '[[authorization.api_keys]]\nsha256 = "' + "ab" * 32 + '"\npermissions = ["a:read"]\n'
        '[authorization.tls_common_names]\n"worker-1" = ["a:worker"]\n'
    )
    file = load_config(path)
    assert file["port"] == 7300
    tls, interceptors = security_settings(_args(), file, tmp_path)
    assert tls is not None and tls.cert_file == tmp_path / "certs" / "server.pem"
    assert not tls.require_client_cert
    assert len(interceptors) == 1 and isinstance(interceptors[0], AuthorizationInterceptor)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"tls": {"cert_file": "x.pem"}}, "needs both"),
        ({"tls": {"cert": "x.pem", "key_file": "y"}}, "unknown settings"),
        ({"authorization": {"api_keys": [{"permissions": ["a:read"]}]}}, "exactly one"),
        ({"authorization": {"api_keys": [{"sha256": "zz", "permissions": []}]}}, "SHA-256"),
        ({"authorization": {"api_keys": [{"key": "k", "permissions": "a:read"}]}}, "list"),
        ({"authorization": {"jwks_files": ["missing.json"]}}, "cannot read JWKS"),
        ({"authorization": {"jwt_audience": "x"}}, "grants nothing"),
    ],
)
def test_settings_that_cannot_be_used_are_named(
    tmp_path: Path, section: dict[str, object], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        security_settings(_args(), section, tmp_path)


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "perdure", "server", "start", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
    )


def test_start_refuses_a_public_address_unprotected_and_warns_with_insecure(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "p.db")
    port = str(free_port())
    refused = _start("--db", db, "--migrate", "--ip", "0.0.0.0", "--port", port)
    _, err = refused.communicate(timeout=60)
    assert refused.returncode == 2
    assert "refusing to serve 0.0.0.0 without TLS or authorization" in err
    insecure = _start("--db", db, "--migrate", "--ip", "0.0.0.0", "--port", port, "--insecure")
    try:
        assert insecure.stderr is not None
        first = insecure.stderr.readline()
        assert "WARNING: serving 0.0.0.0 without TLS or authorization" in first
    finally:
        insecure.terminate()
        insecure.wait(30)


def test_start_dev_with_a_key_that_does_not_fit_the_certificate_says_so(tmp_path: Path) -> None:
    pki = Pki.make()
    cert, _ = pki.server.write(tmp_path, "server")
    _, other_key = pki.client.write(tmp_path, "client")
    out = subprocess.run(
        [sys.executable, "-m", "perdure", "server", "start-dev", "-f", ":memory:",
         "--port", str(free_port()), "--tls-cert", str(cert), "--tls-key", str(other_key)],
        capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert out.returncode == 1
    assert "cannot start" in out.stderr and "do not match" in out.stderr


def test_dynamic_config_from_the_file_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "perdure.toml"
    path.write_text(
        '[dynamic_config]\n"limit.historyCount.error" = 500\n"frontend.namespaceRPS" = 10\n'
        '[dynamic_config.namespaces.orders]\n"frontend.namespaceRPS" = 50\n'
    )
    args = _args(dynamic_config_value=[("frontend.namespaceRPS", 20)])
    config = dynamic_config(args, load_config(path), {"frontend.namespaceRPS": 2400})
    assert config.number("frontend.namespaceRPS", 0) == 20  # the flag wins
    assert config.number("frontend.namespaceRPS", 0, "orders") == 50
    assert config.history_limits("x").count_error == 500
    path.write_text('[dynamic_config]\n"limit.historyCount.error" = "many"\n')
    with pytest.raises(SettingsError, match="must be a number"):
        dynamic_config(_args(dynamic_config_value=[]), load_config(path))
