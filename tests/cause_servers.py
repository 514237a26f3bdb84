"""Misbehaving servers on 127.0.0.1 for the failure-cause tests (no tests here).

One thread runs an asyncio loop with every server a cause needs: a TLS server with a
self-signed certificate (made with ``cryptography``), plain-HTTP servers that answer every path
with HTML (200, 404, 502), a listening socket that never accepts (the black hole), and a port
that was bound and closed again (refused).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import threading
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed_context(folder: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1 and localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


def _html(status: int) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, text="<html>not xts</html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


class CauseServers:
    """Every server the cause tests dial, on one background loop. Use as a context manager."""

    def __init__(self, folder: Path) -> None:
        self._tls = self_signed_context(folder)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runners: list[web.AppRunner] = []
        self.ports: dict[str, int] = {}
        self._hole: socket.socket | None = None

    def __enter__(self) -> CauseServers:
        self._thread.start()
        for name, status, tls in (
            ("tls", 200, True),
            ("html200", 200, False),
            ("html404", 404, False),
            ("html502", 502, False),
        ):
            future = asyncio.run_coroutine_threadsafe(self._serve(_html(status), tls), self._loop)
            self.ports[name] = future.result(10)
        # A listening socket that never accepts: the handshake completes in the kernel, then
        # nothing ever answers (deterministic, unlike a non-routable address).
        hole = socket.socket()
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)
        self._hole = hole
        self.ports["blackhole"] = hole.getsockname()[1]
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        self.ports["closed"] = closed.getsockname()[1]
        closed.close()  # nothing listens there now: connection refused
        return self

    async def _serve(self, app: web.Application, tls: bool) -> int:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self._tls if tls else None)
        await site.start()
        self._runners.append(runner)
        return int(runner.addresses[0][1])

    def url(self, name: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.ports[name]}"

    def __exit__(self, *exc: object) -> None:
        for runner in self._runners:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), self._loop).result(10)
        if self._hole is not None:
            self._hole.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
