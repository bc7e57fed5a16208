"""The certificate source: files read and checked, re-read when they change, the same
certificates for gRPC and for `ssl_context()` listeners."""

from __future__ import annotations

import asyncio
import ssl
import tempfile
from pathlib import Path

import pytest

from perdure.server.security.tls import CertificateSource, ServerTLSConfig, TLSConfigError
from tests.certs import Pki, issue


def _config(tmp_path: Path, pki: Pki, *, mutual: bool = False) -> ServerTLSConfig:
    cert, key = pki.server.write(tmp_path, "server")
    cas: tuple[Path, ...] = ()
    if mutual:
        ca = tmp_path / "client-ca.pem"
        ca.write_bytes(pki.client_ca.cert_pem)
        cas = (ca,)
    return ServerTLSConfig(cert, key, cas)


def test_a_key_that_does_not_match_the_certificate_is_refused(tmp_path: Path) -> None:
    pki = Pki.make()
    config = _config(tmp_path, pki)
    config.key_file.write_bytes(issue("other").key_pem)
    with pytest.raises(TLSConfigError, match="do not match"):
        CertificateSource(config)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    config = ServerTLSConfig(tmp_path / "nope.pem", tmp_path / "nope-key.pem")
    with pytest.raises(TLSConfigError, match=r"nope\.pem"):
        CertificateSource(config)


def test_changed_files_are_read_again_and_a_half_written_pair_is_not(tmp_path: Path) -> None:
    pki = Pki.make()
    source = CertificateSource(_config(tmp_path, pki))
    first = source.current()
    assert source.current() is first  # unchanged files: nothing re-read
    rotated = issue("localhost", issue("new CA", ca=True))
    (tmp_path / "server.pem").write_bytes(rotated.cert_pem)  # key not yet written
    assert source.current().cert == pki.server.cert_pem
    (tmp_path / "server-key.pem").write_bytes(rotated.key_pem)
    assert source.current().cert == rotated.cert_pem


def test_grpc_is_given_a_new_configuration_only_after_a_change(tmp_path: Path) -> None:
    pki = Pki.make()
    source = CertificateSource(_config(tmp_path, pki))
    source.grpc_credentials()
    assert source._fetch() is None
    source.reload()  # SIGHUP: re-read, but the same files give nothing new to serve
    assert source._fetch() is None
    rotated = issue("localhost", issue("new CA", ca=True))
    (tmp_path / "server-key.pem").write_bytes(rotated.key_pem)
    (tmp_path / "server.pem").write_bytes(rotated.cert_pem)
    assert source._fetch() is not None
    assert source._fetch() is None


def test_the_ssl_context_needs_tls_1_2_and_client_certificates_with_a_client_ca(
    tmp_path: Path,
) -> None:
    source = CertificateSource(_config(tmp_path, Pki.make(), mutual=True))
    ctx = source.ssl_context()
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_REQUIRED


def _client_context(ca: bytes, client: tuple[bytes, bytes] | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=ca.decode())
    if client is not None:
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "c.pem").write_bytes(client[0])
            Path(tmp, "k.pem").write_bytes(client[1])
            ctx.load_cert_chain(Path(tmp, "c.pem"), Path(tmp, "k.pem"))
    return ctx


async def _handshake(port: int, ca: bytes, client: tuple[bytes, bytes] | None = None) -> str:
    ctx = _client_context(ca, client)
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ctx, server_hostname="localhost"
    )
    line = await reader.readline()
    writer.close()
    return line.decode().strip()


async def test_an_ssl_context_listener_follows_rotation(tmp_path: Path) -> None:
    pki = Pki.make()
    source = CertificateSource(_config(tmp_path, pki))

    async def hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(hello, "127.0.0.1", 0, ssl=source.ssl_context())
    port = server.sockets[0].getsockname()[1]
    try:
        assert await _handshake(port, pki.server_ca.cert_pem) == "hello"
        new_ca = issue("new CA", ca=True)
        rotated = issue("localhost", new_ca)
        (tmp_path / "server-key.pem").write_bytes(rotated.key_pem)
        (tmp_path / "server.pem").write_bytes(rotated.cert_pem)
        assert await _handshake(port, new_ca.cert_pem) == "hello"
        with pytest.raises(ssl.SSLCertVerificationError):
            await _handshake(port, pki.server_ca.cert_pem)
    finally:
        server.close()
        await server.wait_closed()


async def test_an_ssl_context_listener_requires_client_certificates(tmp_path: Path) -> None:
    pki = Pki.make()
    source = CertificateSource(_config(tmp_path, pki, mutual=True))

    async def hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(hello, "127.0.0.1", 0, ssl=source.ssl_context())
    port = server.sockets[0].getsockname()[1]
    try:
        client = (pki.client.cert_pem, pki.client.key_pem)
        assert await _handshake(port, pki.server_ca.cert_pem, client) == "hello"
        # TLS 1.3: the client's handshake ends before the server checks its certificate;
        # the server then closes the connection without a word, or with an alert.
        try:
            answer = await _handshake(port, pki.server_ca.cert_pem)
        except (ssl.SSLError, ConnectionError):
            answer = "refused"
        assert answer in ("", "refused")
    finally:
        server.close()
        await server.wait_closed()


async def test_grpc_with_these_credentials_takes_tls_1_2_and_1_3_only(tmp_path: Path) -> None:
    import warnings

    import grpc.aio

    pki = Pki.make()
    source = CertificateSource(_config(tmp_path, pki))
    server = grpc.aio.server()
    port = server.add_secure_port("127.0.0.1:0", source.grpc_credentials())
    await server.start()

    async def handshake(version: ssl.TLSVersion) -> str | None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cadata=pki.server_ca.cert_pem.decode())
        ctx.set_alpn_protocols(["h2"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.set_ciphers("ALL:@SECLEVEL=0")
            ctx.minimum_version = ctx.maximum_version = version
        try:
            _, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=ctx, server_hostname="localhost"
            )
        except (ssl.SSLError, ConnectionError):
            return None
        agreed: str | None = writer.get_extra_info("ssl_object").version()
        writer.close()
        return agreed

    try:
        assert await handshake(ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
        assert await handshake(ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
        assert await handshake(ssl.TLSVersion.TLSv1_1) is None
        assert await handshake(ssl.TLSVersion.TLSv1) is None
    finally:
        await server.stop(0)


async def test_the_server_offers_its_tls_to_other_listeners(tmp_path: Path) -> None:
    from perdure.server.app import PerdureServer, ServerConfig

    config = _config(tmp_path, Pki.make(), mutual=True)
    server = await PerdureServer.start(ServerConfig(db=":memory:", serve_grpc=False, tls=config))
    try:
        ctx = server.ssl_context()
        assert ctx is not None and ctx.verify_mode == ssl.CERT_REQUIRED
    finally:
        await server.stop()
    plain = await PerdureServer.start(ServerConfig(db=":memory:", serve_grpc=False))
    try:
        assert plain.ssl_context() is None
    finally:
        await plain.stop()
