"""The SQLite backup and restore that docs/operations.md describes keeps running workflows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from perdure import workflow
from perdure.client import Client
from perdure.worker import Worker


@workflow.defn
class WaitsForApproval:
    def __init__(self) -> None:
        self.approved_by: str | None = None

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.approved_by is not None)
        return f"approved by {self.approved_by}"

    @workflow.signal
    def approve(self, name: str) -> None:
        self.approved_by = name


def _online_backup(source: Path, target: Path) -> None:
    """What ``sqlite3 SOURCE ".backup TARGET"`` does, from Python."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


async def test_online_backup_of_a_running_server_restores_its_workflows(tmp_path: Path) -> None:
    database, backup = tmp_path / "perdure.db", tmp_path / "backup.db"
    client = await Client.connect(f"embedded://{database}")
    try:
        async with Worker(client, task_queue="approvals", workflows=[WaitsForApproval]):
            await client.start_workflow(
                WaitsForApproval.run, id="expense-1", task_queue="approvals"
            )
            _online_backup(database, backup)  # while the engine runs
            await client.start_workflow(
                WaitsForApproval.run, id="expense-2", task_queue="approvals"
            )
    finally:
        await client.service_client.close()

    restored = await Client.connect(f"embedded://{backup}")
    try:
        ids = [execution.id async for execution in restored.list_workflows()]
        assert ids == ["expense-1"]  # the state at the time of the backup
        async with Worker(restored, task_queue="approvals", workflows=[WaitsForApproval]):
            handle = restored.get_workflow_handle_for(WaitsForApproval.run, "expense-1")
            await handle.signal(WaitsForApproval.approve, "grace")
            assert await handle.result() == "approved by grace"
    finally:
        await restored.service_client.close()


def test_the_production_settings_file_of_the_operations_page_loads(tmp_path: Path) -> None:
    """The page's perdure.toml, with its certificates and keys put where it says, gives a
    server with mutual TLS, authorization and limits."""
    import argparse
    import json
    import re

    from perdure.cli.security import dynamic_config, security_settings
    from perdure.cli.server import load_config
    from tests.certs import Pki
    from tests.server.security.jwts import Signers

    page = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    toml = re.search(r"```toml\n(# perdure\.toml.*?)```", page, re.S)
    assert toml is not None
    (tmp_path / "perdure.toml").write_text(toml.group(1))
    pki = Pki.make()
    pki.server.write(tmp_path / "certs", "server")
    (tmp_path / "certs" / "clients-ca.pem").write_bytes(pki.client_ca.cert_pem)
    (tmp_path / "jwks.json").write_text(json.dumps(Signers.make().jwks()))

    file = load_config(tmp_path / "perdure.toml")
    args = argparse.Namespace(
        tls_cert=None, tls_key=None, tls_client_ca=[], jwks_file=[], jwt_key_file=[],
        jwt_audience=None, dynamic_config_value=[],
    )  # fmt: skip
    tls, interceptors = security_settings(args, file, tmp_path)
    assert tls is not None and tls.require_client_cert
    assert len(interceptors) == 1
    limits = dynamic_config(args, file)
    assert limits.number("frontend.namespaceRPS", 0, "billing") == 500
    assert file["host"] == "0.0.0.0"
