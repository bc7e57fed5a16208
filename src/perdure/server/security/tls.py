"""The server's TLS: one certificate source for every listener (gRPC now, HTTP later).

Certificates are read from files and re-read when the files change (checked at each new
handshake, a `stat` per file) or when `reload()` is called (the CLI calls it on SIGHUP).
Connections already open keep their session; new ones get the new certificate, so a
rotation needs no restart and drops nothing. With a client CA, clients must present a
certificate it signed (mutual TLS). TLS 1.2 is the oldest version accepted.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

log = logging.getLogger(__name__)


class TLSConfigError(ValueError):
    """A TLS setting that cannot be used (missing file, key not matching the certificate)."""


@dataclass(frozen=True)
class ServerTLSConfig:
    """Where the server's certificate, key and (for mutual TLS) client CA live."""

    cert_file: Path
    """PEM certificate chain presented to clients."""
    key_file: Path
    """PEM private key of `cert_file`."""
    client_ca_files: Sequence[Path] = ()
    """PEM CA certificates; when given, every client must present a certificate they signed."""

    @property
    def require_client_cert(self) -> bool:
        return bool(self.client_ca_files)


@dataclass(frozen=True)
class _Material:
    """One reading of the files."""

    cert: bytes
    key: bytes
    client_ca: bytes | None


def _stamp(paths: Sequence[Path]) -> tuple[tuple[int, int], ...]:
    out = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append((-1, -1))
        else:
            out.append((st.st_mtime_ns, st.st_size))
    return tuple(out)


class CertificateSource:
    """The current certificates of a `ServerTLSConfig`, re-read when their files change."""

    def __init__(self, config: ServerTLSConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._forced = False
        self._stamp = _stamp(self._paths)
        self._material = self._read()
        self._served: _Material | None = None
        """What gRPC was last given (its initial configuration or an answer of `_fetch`)."""
        self._context = self._build_context(self._material)
        self._context_material = self._material

    @property
    def _paths(self) -> tuple[Path, ...]:
        return (self.config.cert_file, self.config.key_file, *self.config.client_ca_files)

    def _read(self) -> _Material:
        try:
            cert = self.config.cert_file.read_bytes()
            key = self.config.key_file.read_bytes()
            ca = b"".join(p.read_bytes() for p in self.config.client_ca_files) or None
        except OSError as err:
            raise TLSConfigError(f"cannot read {err.filename}: {err.strerror}") from err
        material = _Material(cert, key, ca)
        self._build_context(material)  # checks the PEM and that the key fits the certificate
        return material

    def reload(self) -> None:
        """Re-read the files at the next handshake even if they look unchanged (SIGHUP)."""
        with self._lock:
            self._forced = True

    def current(self) -> _Material:
        """The certificates to use now: re-read if the files changed or a reload was asked.

        A half-written rotation (a key that does not match the new certificate yet) keeps
        the previous certificates and tries again at the next handshake.
        """
        with self._lock:
            stamp = _stamp(self._paths)
            if not self._forced and stamp == self._stamp:
                return self._material
            self._forced = False
            try:
                fresh = self._read()
            except TLSConfigError as err:
                log.warning("TLS certificates not reloaded, keeping the previous ones: %s", err)
                return self._material
            self._stamp = stamp
            if fresh != self._material:
                log.info("TLS certificates reloaded from %s", self.config.cert_file)
                self._material = fresh
            return self._material

    # ------------------------------------------------------------------ gRPC

    def grpc_credentials(self) -> grpc.ServerCredentials:
        """Credentials for `add_secure_port` that follow the files (gRPC asks at each handshake)."""
        first = self._material
        self._served = first
        return grpc.dynamic_ssl_server_credentials(
            self._grpc_config(first),
            self._fetch,
            require_client_authentication=self.config.require_client_cert,
        )

    @staticmethod
    def _grpc_config(material: _Material) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration(
            [(material.key, material.cert)], root_certificates=material.client_ca
        )

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """gRPC's per-handshake question: a new configuration, or None to keep the last."""
        material = self.current()
        if material is self._served:
            return None
        self._served = material
        return self._grpc_config(material)

    # ------------------------------------------------------------------ other listeners

    def ssl_context(self) -> ssl.SSLContext:
        """A server-side `ssl.SSLContext` for other listeners (HTTP API, UI) that also
        follows the files: each handshake switches to a context of the current files."""
        outer = self._build_context(self._material)

        def fresh(
            sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, ctx: ssl.SSLContext
        ) -> None:
            sock.context = self._context_for(self.current())

        outer.sni_callback = fresh
        return outer

    def _context_for(self, material: _Material) -> ssl.SSLContext:
        with self._lock:
            if material is not self._context_material:
                self._context = self._build_context(material)
                self._context_material = material
            return self._context

    def _build_context(self, material: _Material) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        _load_chain(ctx, material.cert, material.key)
        if material.client_ca is not None:
            try:
                ctx.load_verify_locations(cadata=material.client_ca.decode("ascii", "replace"))
            except ssl.SSLError as err:
                raise TLSConfigError(f"client CA is not PEM certificates: {err}") from err
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx


def _load_chain(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """`load_cert_chain` wants files: give it private temporary ones."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="perdure-tls-") as tmp:
        cert_path, key_path = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_path.write_bytes(cert)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        try:
            ctx.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as err:
            raise TLSConfigError(f"certificate and key do not match or are not PEM: {err}") from err
