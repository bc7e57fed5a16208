"""TLS (server verification, domain override, mutual TLS) and HTTP CONNECT proxying."""

from __future__ import annotations

import asyncio
import base64
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoResponse

from perdure.service import (
    ConnectConfig,
    HttpConnectProxyConfig,
    RetryConfig,
    ServiceClient,
    TLSConfig,
)
from tests.servers import free_port

FAST_FAIL = RetryConfig(initial_interval_millis=1, max_retries=0)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A CA, a server certificate for ``perdure.test`` and a client certificate."""
    d = tmp_path_factory.mktemp("certs")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test CA",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=d)  # fmt: skip
    for name, cn in (("server", "perdure.test"), ("client", "client")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)  # fmt: skip
        (d / f"{name}.ext").write_text(f"subjectAltName=DNS:{cn}\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
                 "-out", f"{name}.pem", cwd=d)  # fmt: skip
    return {p.stem + p.suffix: p.read_bytes() for p in d.iterdir() if p.suffix in (".pem", ".key")}


class _Answering(grpc.GenericRpcHandler):
    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        async def unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            return GetSystemInfoResponse(server_version="tls-fake").SerializeToString()

        return grpc.unary_unary_rpc_method_handler(unary)


@pytest.fixture
async def tls_server(certs: dict[str, bytes]) -> AsyncIterator[int]:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([_Answering()])
    credentials = grpc.ssl_server_credentials(
        [(certs["server.key"], certs["server.pem"])],
        root_certificates=certs["ca.pem"],
        require_client_auth=True,
    )
    port = free_port()
    server.add_secure_port(f"127.0.0.1:{port}", credentials)
    await server.start()
    yield port
    await server.stop(None)


async def test_mutual_tls_with_domain_override(tls_server: int, certs: dict[str, bytes]) -> None:
    good = TLSConfig(
        server_root_ca_cert=certs["ca.pem"],
        domain="perdure.test",
        client_cert=certs["client.pem"],
        client_private_key=certs["client.key"],
    )
    client = await ServiceClient.connect(ConnectConfig(f"127.0.0.1:{tls_server}", tls=good))
    assert client.system_info is not None and client.system_info.server_version == "tls-fake"
    await client.close()


@pytest.mark.parametrize(
    "broken",
    [
        {"client_cert": None, "client_private_key": None},  # the server requires a client cert
        {"domain": None},  # the certificate is for perdure.test, not 127.0.0.1
        {"server_root_ca_cert": None},  # system roots do not trust the test CA
    ],
)
async def test_tls_refuses_what_it_cannot_verify(
    tls_server: int, certs: dict[str, bytes], broken: dict[str, Any]
) -> None:
    settings: dict[str, Any] = {
        "server_root_ca_cert": certs["ca.pem"],
        "domain": "perdure.test",
        "client_cert": certs["client.pem"],
        "client_private_key": certs["client.key"],
        **broken,
    }
    config = ConnectConfig(
        f"127.0.0.1:{tls_server}", tls=TLSConfig(**settings), retry_config=FAST_FAIL
    )
    with pytest.raises(RuntimeError, match="Failed client connect"):
        await ServiceClient.connect(config)


async def test_http_connect_proxy_with_basic_auth() -> None:
    backend = grpc.aio.server()
    backend.add_generic_rpc_handlers([_Answering()])
    backend_port = free_port()
    backend.add_insecure_port(f"127.0.0.1:{backend_port}")
    await backend.start()
    seen: list[tuple[str, str | None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        request_line, *header_lines = head.strip().split("\r\n")
        headers = dict(line.split(": ", 1) for line in header_lines)
        target = request_line.split()[1]
        seen.append((target, headers.get("Proxy-Authorization")))
        host, port = target.rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            finally:
                dst.close()

        await asyncio.gather(
            pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True
        )

    proxy = await asyncio.start_server(handle, "127.0.0.1", 0)
    proxy_port = proxy.sockets[0].getsockname()[1]
    try:
        config = ConnectConfig(
            f"127.0.0.1:{backend_port}",
            http_connect_proxy_config=HttpConnectProxyConfig(
                target_host=f"127.0.0.1:{proxy_port}", basic_auth=("user", "p@ss")
            ),
        )
        client = await ServiceClient.connect(config)
        assert client.system_info is not None
        await client.close()
    finally:
        proxy.close()
        await backend.stop(None)
    expected_auth = "Basic " + base64.b64encode(b"user:p@ss").decode()
    assert seen and seen[0] == (f"127.0.0.1:{backend_port}", expected_auth)
