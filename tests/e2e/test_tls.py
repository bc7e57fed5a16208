"""TLS and mutual TLS on Perdure's server, seen by the official SDK and by Perdure's.

The real dev server (`temporal server start-dev`) has no TLS options, so these run on
Perdure's server only; the clients' side is the official SDK's own TLS.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import temporalio.client as official

import perdure.client as ours
from tests.certs import Pki, issue
from tests.servers import ServerProcess, start_perdure_server

pytestmark = pytest.mark.perdure_only


def _tls_args(directory: Path, pki: Pki, *, mutual: bool) -> list[str]:
    cert, key = pki.server.write(directory, "server")
    args = ["--tls-cert", str(cert), "--tls-key", str(key)]
    if mutual:
        ca = directory / "client-ca.pem"
        ca.write_bytes(pki.client_ca.cert_pem)
        args += ["--tls-client-ca", str(ca)]
    return args


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki.make()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("tls")
    server = start_perdure_server(work, extra_args=_tls_args(work, pki, mutual=False))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def mtls_server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("mtls")
    server = start_perdure_server(work, extra_args=_tls_args(work, pki, mutual=True))
    try:
        yield server
    finally:
        server.stop()


def _official_tls(pki: Pki, *, client: bool = False, ca: bytes | None = None) -> official.TLSConfig:
    return official.TLSConfig(
        server_root_ca_cert=ca or pki.server_ca.cert_pem,
        domain="localhost",
        client_cert=pki.client.cert_pem if client else None,
        client_private_key=pki.client.key_pem if client else None,
    )


def _our_tls(pki: Pki, *, client: bool = False) -> ours.TLSConfig:
    return ours.TLSConfig(
        server_root_ca_cert=pki.server_ca.cert_pem,
        domain="localhost",
        client_cert=pki.client.cert_pem if client else None,
        client_private_key=pki.client.key_pem if client else None,
    )


async def _round_trip_official(client: official.Client) -> None:
    """A write and a read over the connection: start a workflow, then find it."""
    wf_id = f"tls-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow("Nothing", id=wf_id, task_queue=f"tq-{wf_id}")
    desc = await handle.describe()
    assert desc.id == wf_id
    await handle.terminate("done")


async def test_official_sdk_connects_with_tls(tls_server: ServerProcess, pki: Pki) -> None:
    client = await official.Client.connect(tls_server.target, tls=_official_tls(pki))
    await _round_trip_official(client)


async def _round_trip_ours(client: ours.Client) -> None:
    wf_id = f"tls-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow("Nothing", id=wf_id, task_queue=f"tq-{wf_id}")
    assert (await handle.describe()).id == wf_id
    await handle.terminate("done")


async def test_perdures_sdk_connects_with_tls(tls_server: ServerProcess, pki: Pki) -> None:
    await _round_trip_ours(await ours.Client.connect(tls_server.target, tls=_our_tls(pki)))


async def test_plaintext_clients_are_refused(tls_server: ServerProcess, pki: Pki) -> None:
    with pytest.raises(RuntimeError, match="Failed client connect"):
        await official.Client.connect(tls_server.target)
    with pytest.raises(RuntimeError, match="Failed client connect"):
        await ours.Client.connect(tls_server.target, tls=False)


async def test_a_client_that_does_not_trust_the_server_is_refused(
    tls_server: ServerProcess, pki: Pki
) -> None:
    other_ca = issue("someone else's CA", ca=True)
    with pytest.raises(RuntimeError, match="Failed client connect"):
        await official.Client.connect(
            tls_server.target, tls=_official_tls(pki, ca=other_ca.cert_pem)
        )


async def test_mutual_tls_with_a_client_certificate(mtls_server: ServerProcess, pki: Pki) -> None:
    client = await official.Client.connect(mtls_server.target, tls=_official_tls(pki, client=True))
    await _round_trip_official(client)
    mine = await ours.Client.connect(mtls_server.target, tls=_our_tls(pki, client=True))
    await _round_trip_ours(mine)


async def test_mutual_tls_refuses_a_client_without_certificate(
    mtls_server: ServerProcess, pki: Pki
) -> None:
    with pytest.raises(RuntimeError, match="Failed client connect"):
        await official.Client.connect(mtls_server.target, tls=_official_tls(pki))
    with pytest.raises(RuntimeError, match="Failed client connect"):
        await ours.Client.connect(mtls_server.target, tls=_our_tls(pki))
    stranger = issue("stranger", issue("stranger CA", ca=True), server=False)
    with pytest.raises(RuntimeError, match="Failed client connect"):
        await official.Client.connect(
            mtls_server.target,
            tls=official.TLSConfig(
                server_root_ca_cert=pki.server_ca.cert_pem,
                domain="localhost",
                client_cert=stranger.cert_pem,
                client_private_key=stranger.key_pem,
            ),
        )


async def test_certificates_rotate_without_a_restart(tmp_path: Path, pki: Pki) -> None:
    """New files are picked up at the next handshake (and on SIGHUP); a connection made
    before the rotation keeps working; the process is the same throughout."""
    server = start_perdure_server(tmp_path, extra_args=_tls_args(tmp_path, pki, mutual=False))
    try:
        before = await official.Client.connect(server.target, tls=_official_tls(pki))
        new_ca = issue("rotated CA", ca=True)
        rotated = issue("localhost", new_ca)
        # Key first, then certificate: in between, the pair does not match and the server
        # keeps the old one (it never serves a half-written rotation).
        (tmp_path / "server-key.pem").write_bytes(rotated.key_pem)
        (tmp_path / "server.pem").write_bytes(rotated.cert_pem)
        os.kill(server.process.pid, signal.SIGHUP)
        after = await official.Client.connect(
            server.target, tls=_official_tls(pki, ca=new_ca.cert_pem)
        )
        await _round_trip_official(after)
        with pytest.raises(RuntimeError, match="Failed client connect"):
            await official.Client.connect(server.target, tls=_official_tls(pki))
        await _round_trip_official(before)  # its connection predates the rotation
        assert server.process.poll() is None
    finally:
        server.stop()
