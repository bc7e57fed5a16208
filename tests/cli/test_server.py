"""`perdure server start`, `migrate` and `start-dev --db`: settings, schema versions."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from perdure.cli.server import ConfigError, _redact, load_config
from perdure.server.store.dialect import POSTGRES
from perdure.server.store.schema import MIGRATIONS, SCHEMA_VERSION, SCHEMA_VERSION_DDL
from tests.pg import create_database, drop_database, pg_unreachable
from tests.servers import REPO, TEMPORAL_BIN, free_port, start_perdure_server


def perdure(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "perdure", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture
def pg_db() -> Iterator[str]:
    reason = pg_unreachable()
    if reason:
        pytest.skip(reason)
    url = create_database()
    try:
        yield url
    finally:
        drop_database(url)


def _at_version_1(url: str) -> None:
    """A database as the first released Perdure left it."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(POSTGRES.render(SCHEMA_VERSION_DDL))
        for statement in MIGRATIONS[0].statements(POSTGRES):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (1, 'initial schema', 0)")


def test_config_file_settings(tmp_path: Path) -> None:
    path = tmp_path / "perdure.toml"
    path.write_text(
        'db = "postgresql://u@h/db"\nport = 7300\nnamespaces = ["a", "b"]\nmigrate = true\n'
        '[search_attributes]\nCustomerId = "Keyword"\nScore = "double"\n'
    )
    assert load_config(path) == {
        "db": "postgresql://u@h/db",
        "port": 7300,
        "namespaces": ["a", "b"],
        "migrate": True,
        "search_attributes": {"CustomerId": 2, "Score": 4},
    }
    path.write_text('[server]\nhost = "0.0.0.0"\n')
    assert load_config(path) == {"host": "0.0.0.0"}
    path.write_text('metrics_port = 9090\nlog_format = "json"\n')
    assert load_config(path) == {"metrics_port": 9090, "log_format": "json"}
    for bad, message in (
        ('dbb = "x"\n', "unknown settings"),
        ('port = "7233"\n', "port must be a int"),
        ('log_level = "loud"\n', "log_level must be one of"),
        ('log_format = "xml"\n', "log_format must be one of"),
        ('[search_attributes]\nX = "Colour"\n', "expected KEY=TYPE"),
        ("port = \n", "cannot read"),
    ):
        path.write_text(bad)
        with pytest.raises(ConfigError, match=message):
            load_config(path)


def test_passwords_stay_out_of_logs() -> None:
    assert (
        _redact("postgresql://app:s3cret@db:5432/perdure") == "postgresql://app:***@db:5432/perdure"
    )
    assert _redact("postgresql://app@db/perdure") == "postgresql://app@db/perdure"
    assert _redact("/var/lib/perdure.db") == "/var/lib/perdure.db"


@pytest.mark.postgres
def test_start_refuses_an_old_schema_until_migrated(pg_db: str, tmp_path: Path) -> None:
    _at_version_1(pg_db)
    port = free_port()
    refused = perdure("server", "start", "--db", pg_db, "--port", str(port), "--ip", "127.0.0.1")
    assert refused.returncode == 1
    assert "perdure server migrate" in refused.stderr
    check = perdure("server", "migrate", "--db", pg_db, "--check")
    assert check.returncode == 1 and "schema version 1 (behind" in check.stdout
    done = perdure("server", "migrate", "--db", pg_db)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"schema version 1 -> {SCHEMA_VERSION}"
    again = perdure("server", "migrate", "--db", pg_db)
    assert (
        again.stdout.strip()
        == f"schema version {SCHEMA_VERSION} (current; this Perdure: {SCHEMA_VERSION})"
    )
    with psycopg.connect(pg_db) as conn:
        versions = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]


@pytest.mark.postgres
def test_start_with_a_config_file_serves(pg_db: str, tmp_path: Path) -> None:
    """`start --migrate` with settings from a file; a client sees the namespaces it made."""
    _at_version_1(pg_db)
    port = free_port()
    config = tmp_path / "perdure.toml"
    config.write_text(
        f'db = "{pg_db}"\nhost = "127.0.0.1"\nport = {port}\nnamespaces = ["orders"]\n'
        'log_level = "warning"\n[search_attributes]\nCustomerId = "Keyword"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "perdure", "server", "start", "-c", str(config), "--migrate"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
    )
    try:
        listed = None
        for _ in range(100):
            listed = subprocess.run(
                [str(TEMPORAL_BIN), "operator", "namespace", "list",
                 "--address", f"127.0.0.1:{port}", "-o", "json"],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            if listed.returncode == 0:
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            import time

            time.sleep(0.2)
        assert listed is not None and listed.returncode == 0, listed.stderr if listed else ""
        assert '"orders"' in listed.stdout and "CustomerId" in listed.stdout
    finally:
        proc.terminate()
        assert proc.wait(20) == 0


@pytest.mark.postgres
def test_start_dev_takes_a_database_url(pg_db: str, tmp_path: Path) -> None:
    server = start_perdure_server(tmp_path, db_url=pg_db)
    try:
        assert server.db_url == pg_db
        with psycopg.connect(pg_db) as conn:
            names = conn.execute("SELECT name FROM namespaces").fetchall()
        assert ("default",) in names
    finally:
        assert server.stop() == 0


def test_migrate_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "perdure.db"
    done = perdure("server", "migrate", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"schema version 0 -> {SCHEMA_VERSION}"
    assert perdure("server", "migrate", "--db", str(db), "--check").returncode == 0


def test_start_needs_a_database() -> None:
    out = perdure("server", "start")
    assert out.returncode == 2 and "no database" in out.stderr


# --------------------------------------------------------------------------- start errors


def _one_line_refusal(out: subprocess.CompletedProcess[str], command: str, reason: str) -> None:
    """The server did not start, and said why in one line on stderr, without a traceback."""
    assert out.returncode == 1, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"perdure server {command}: cannot start: "), lines[0]
    assert reason in lines[0]


@pytest.mark.parametrize("command", ["start-dev", "start"])
def test_start_refuses_a_port_in_use(command: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        out = perdure(
            "server", command, "--ip", "127.0.0.1", "--port", port, "--db", str(tmp_path / "a.db")
        )
    _one_line_refusal(out, command, f"cannot listen on 127.0.0.1:{port}: Address already in use")
    assert not (tmp_path / "a.db").exists()  # refused before the database is touched


def test_start_dev_refuses_a_metrics_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        out = perdure(
            "server", "start-dev", "--ip", "127.0.0.1", "--port", "0", "--metrics-port", port,
            "--db", str(tmp_path / "a.db"),
        )  # fmt: skip
    _one_line_refusal(out, "start-dev", f"cannot listen on 127.0.0.1:{port}")


def _unreadable_databases(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is no SQLite database, " * 40)
    yield garbage, "file is not a database"
    directory = tmp_path / "directory.db"
    directory.mkdir()
    yield directory, "unable to open database file"
    if os.geteuid() != 0:  # root reads any file
        locked = tmp_path / "locked.db"
        locked.touch(mode=0o000)
        yield locked, "unable to open database file"


def test_start_dev_refuses_an_unreadable_database(tmp_path: Path) -> None:
    for path, reason in _unreadable_databases(tmp_path):
        out = perdure("server", "start-dev", "--port", "0", "--db-filename", str(path))
        _one_line_refusal(out, "start-dev", f"SQLite database {path}: {reason}")


@pytest.mark.parametrize("command", ["start-dev", "start"])
def test_start_refuses_a_newer_schema(command: str, tmp_path: Path) -> None:
    db = tmp_path / "newer.db"
    assert perdure("server", "migrate", "--db", str(db)).returncode == 0
    future = SCHEMA_VERSION + 1
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?, 'from the future', 0)", (future,))
    out = perdure("server", command, "--ip", "127.0.0.1", "--port", "0", "--db", str(db))
    _one_line_refusal(
        out, command, f"database schema version {future} is newer than this Perdure's"
    )


# --------------------------------------------------------------------------- dynamic config


def test_config_file_takes_a_dynamic_config_table(tmp_path: Path) -> None:
    path = tmp_path / "perdure.toml"
    path.write_text(
        'db = "postgresql://u@h/db"\n'
        "[dynamic_config]\n"
        '"limit.historyCount.suggestContinueAsNew" = 100\n'
        '"frontend.enableUpdateWorkflowExecution" = true\n'
    )
    assert load_config(path)["dynamic_config"] == {
        "limit.historyCount.suggestContinueAsNew": 100,
        "frontend.enableUpdateWorkflowExecution": True,
    }
    path.write_text(
        '[server]\ndb = "postgresql://u@h/db"\n[dynamic_config]\n"limit.blobSize.error" = 1024\n'
    )
    assert load_config(path) == {
        "db": "postgresql://u@h/db",
        "dynamic_config": {"limit.blobSize.error": 1024},
    }


def test_start_dev_refuses_a_bad_dynamic_config_value_in_one_line() -> None:
    out = perdure(
        "server", "start-dev", "--port", "0", "--db-filename", ":memory:",
        "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=lots",
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == (
        "perdure server start-dev: dynamic config limit.historyCount.suggestContinueAsNew "
        "must be a non-negative integer"
    )
