"""Authorization on `perdure server start`, seen by the official SDK and Perdure's: API
keys and JWTs with Temporal's permissions, per namespace.

The real dev server has no authorizer to compare with (`temporal server start-dev`
accepts any key), so these run on Perdure's server only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import temporalio.client as official
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

import perdure.client as ours
from perdure.service import RPCError as OurRPCError
from perdure.service import RPCStatusCode as OurStatus
from tests.certs import Pki, issue
from tests.e2e import official_workflows as wf
from tests.server.security.jwts import Signers
from tests.servers import REPO, ServerProcess, _wait_listening, free_port

pytestmark = [pytest.mark.perdure_only, pytest.mark.timeout(120)]

KEYS = {
    "k-reader": ["auth-a:read"],
    "k-worker": ["auth-a:worker"],
    "k-writer": ["auth-a:write"],
    "k-b-writer": ["auth-b:write"],
}


@pytest.fixture(scope="module")
def signers() -> Signers:
    return Signers.make()


def _start(work: Path, settings: str) -> ServerProcess:
    """`perdure server start -c` with `settings` on a SQLite file."""
    (work / "perdure.toml").write_text(settings)
    port = free_port()
    args = [
        sys.executable, "-m", "perdure", "server", "start", "-c", str(work / "perdure.toml"),
        "--db", str(work / "perdure.db"), "--migrate", "--port", str(port),
        "--log-level", "info",
    ]  # fmt: skip
    log_path = work / "server.log"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with log_path.open("ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    process = ServerProcess("perdure", "127.0.0.1", port, proc, log_path, work / "perdure.db", args)
    _wait_listening(process, 30)
    return process


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, signers: Signers) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("authz")
    (work / "jwks.json").write_text(json.dumps(signers.jwks()))
    keys = "\n".join(
        f'[[authorization.api_keys]]\nkey = "{k}"\npermissions = {json.dumps(v)}\n'
        for k, v in KEYS.items()
    )
    process = _start(
        work,
        'namespaces = ["auth-a", "auth-b"]\n\n'
        '[authorization]\njwks_files = ["jwks.json"]\njwt_audience = "perdure"\n\n' + keys,
    )
    try:
        yield process
    finally:
        process.stop()


async def _connect(server: ServerProcess, key: str, namespace: str = "auth-a") -> official.Client:
    return await official.Client.connect(server.target, namespace=namespace, api_key=key, tls=False)


def _wid() -> str:
    return f"authz-{uuid.uuid4().hex[:10]}"


async def test_a_reader_key_can_list_but_not_start(server: ServerProcess) -> None:
    reader = await _connect(server, "k-reader")
    [w async for w in reader.list_workflows()]
    with pytest.raises(RPCError) as info:
        await reader.start_workflow("Nothing", id=_wid(), task_queue="tq")
    assert info.value.status == RPCStatusCode.PERMISSION_DENIED
    assert info.value.message == "Request unauthorized."


async def test_a_worker_key_can_poll_but_not_terminate(server: ServerProcess) -> None:
    writer, worker_client = await _connect(server, "k-writer"), await _connect(server, "k-worker")
    task_queue = f"tq-{_wid()}"
    async with Worker(
        worker_client,
        task_queue=task_queue,
        workflows=wf.ALL_WORKFLOWS,
        activities=wf.ALL_ACTIVITIES,
        workflow_runner=UnsandboxedWorkflowRunner(),
        activity_executor=ThreadPoolExecutor(2),
    ):
        result = await writer.execute_workflow(
            wf.OneActivity.run, "keys", id=_wid(), task_queue=task_queue
        )
    assert result == "Hello, keys!"
    handle = await writer.start_workflow(wf.WaitForSignal.run, id=_wid(), task_queue=task_queue)
    with pytest.raises(RPCError) as info:
        await worker_client.get_workflow_handle(handle.id).terminate("no")
    assert info.value.status == RPCStatusCode.PERMISSION_DENIED
    await handle.terminate("yes")  # the writer may


async def test_a_key_for_one_namespace_sees_nothing_of_another(server: ServerProcess) -> None:
    b_writer = await _connect(server, "k-b-writer", namespace="auth-b")
    await b_writer.start_workflow("Nothing", id=_wid(), task_queue="tq")
    a_reader_in_b = await _connect(server, "k-reader", namespace="auth-b")
    with pytest.raises(RPCError) as info:
        [w async for w in a_reader_in_b.list_workflows()]
    assert info.value.status == RPCStatusCode.PERMISSION_DENIED


async def test_no_key_or_a_wrong_one_is_refused(server: ServerProcess) -> None:
    with pytest.raises(RuntimeError, match="Request unauthenticated"):
        await _connect(server, "obviously-wrong")
    anonymous = await official.Client.connect(server.target, namespace="auth-a")
    with pytest.raises(RPCError) as info:
        [w async for w in anonymous.list_workflows()]
    assert info.value.status == RPCStatusCode.UNAUTHENTICATED


async def test_jwts_grant_their_permissions_and_expired_ones_are_refused(
    server: ServerProcess, signers: Signers
) -> None:
    token = signers.token(["auth-a:write"], aud="perdure", alg="ES256")
    client = await _connect(server, token)
    handle = await client.start_workflow("Nothing", id=_wid(), task_queue="tq")
    await handle.terminate("done")
    expired = signers.token(["auth-a:write"], aud="perdure", ttl=-60)
    with pytest.raises(RuntimeError, match="Request unauthenticated"):
        await _connect(server, expired)
    wrong_audience = signers.token(["auth-a:write"], aud="elsewhere")
    with pytest.raises(RuntimeError, match="Request unauthenticated"):
        await _connect(server, wrong_audience)


async def test_perdures_sdk_sends_its_key_and_gets_the_same_answers(server: ServerProcess) -> None:
    reader = await ours.Client.connect(
        server.target, namespace="auth-a", api_key="k-reader", tls=False
    )
    [w async for w in reader.list_workflows()]
    with pytest.raises(OurRPCError) as info:
        await reader.start_workflow("Nothing", id=_wid(), task_queue="tq")
    assert info.value.status == OurStatus.PERMISSION_DENIED
    writer = await ours.Client.connect(
        server.target, namespace="auth-a", api_key="k-writer", tls=False
    )
    handle = await writer.start_workflow("Nothing", id=_wid(), task_queue="tq")
    await handle.terminate("done")
    with pytest.raises(RuntimeError, match="Request unauthenticated"):
        await ours.Client.connect(server.target, namespace="auth-a", api_key="nope", tls=False)
    assert "permission denied: StartWorkflowExecution" in server.log()


async def test_client_certificate_names_map_to_permissions(
    tmp_path: Path,
) -> None:
    """Mutual TLS plus [authorization.tls_common_names]: the certificate is the credential."""
    pki = Pki.make(client_cn="reporting")
    pki.server.write(tmp_path / "certs", "server")
    (tmp_path / "certs" / "clients-ca.pem").write_bytes(pki.client_ca.cert_pem)
    other = issue("someone-else", pki.client_ca, server=False)
    process = _start(
        tmp_path,
        '[tls]\ncert_file = "certs/server.pem"\nkey_file = "certs/server-key.pem"\n'
        'client_ca_files = ["certs/clients-ca.pem"]\n\n'
        '[authorization.tls_common_names]\n"reporting" = ["default:read"]\n',
    )

    def tls(cert: bytes, key: bytes) -> official.TLSConfig:
        return official.TLSConfig(
            server_root_ca_cert=pki.server_ca.cert_pem,
            domain="localhost",
            client_cert=cert,
            client_private_key=key,
        )

    try:
        reporting = await official.Client.connect(
            process.target, tls=tls(pki.client.cert_pem, pki.client.key_pem)
        )
        [w async for w in reporting.list_workflows()]
        with pytest.raises(RPCError) as info:
            await reporting.start_workflow("Nothing", id=_wid(), task_queue="tq")
        assert info.value.status == RPCStatusCode.PERMISSION_DENIED
        stranger = await official.Client.connect(
            process.target, tls=tls(other.cert_pem, other.key_pem)
        )
        with pytest.raises(RPCError) as info:
            [w async for w in stranger.list_workflows()]
        assert info.value.status == RPCStatusCode.PERMISSION_DENIED
    finally:
        process.stop()
