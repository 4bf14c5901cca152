"""The sandbox over HTTPS, for tests that need the official SDK's own retry logic.

The SDK mounts its urllib3 Retry adapter on https:// only, so over plain HTTP a 429 or a
500 reaches the caller directly. This serves the project over TLS with a self-signed
certificate made for the test (cryptography), from a thread of this process, like
pytest-django's live_server. Point REQUESTS_CA_BUNDLE at `cert_path`: this machine
exports that variable and requests lets it override `verify=`.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from collections import Counter
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "annotator sandbox test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "sandbox-cert.pem", directory / "sandbox-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class TlsServer:
    """The Django project on https://127.0.0.1:<free port>; `requests` counts (method, path) pairs."""

    def __init__(self, directory: Path) -> None:
        self.cert_path, key_path = make_certificate(directory)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, key_path)
        self.requests: Counter[tuple[str, str]] = Counter()
        counts = self.requests

        self.server = ThreadedWSGIServer(("127.0.0.1", 0), _QuietHandler, allow_reuse_address=False)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        # wsgiref derives wsgi.url_scheme from HTTPS: URLs the sandbox builds say https.
        self.server.base_environ["HTTPS"] = "on"
        django_app = get_wsgi_application()
        lock = threading.Lock()

        def counting_app(environ, start_response):
            # Counted before Django answers: counted after, a client that has its answer can
            # look at the count before the server thread has added to it.
            with lock:
                counts[(environ["REQUEST_METHOD"], environ["PATH_INFO"])] += 1
            return django_app(environ, start_response)

        self.server.set_app(counting_app)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> TlsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
