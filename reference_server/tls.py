"""TLS for nodes and the LBS: a server context from ``--cert``/``--key``, and a throwaway
CA with a certificate for this host (``trustme``) for a local cluster's ``tls=True``."""

from __future__ import annotations

import ssl
from pathlib import Path


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """A TLS server context from a PEM certificate chain and its private key."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


def client_context(ca: str | None) -> ssl.SSLContext:
    """A verifying client context that trusts ``ca`` (or the system's CAs)."""
    return ssl.create_default_context(cafile=ca)


def make_certificates(folder: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
                      ) -> tuple[Path, Path, Path]:
    """Write ``ca.pem``, ``server.pem`` (chain) and ``server.key`` into ``folder``: a fresh CA
    and a server certificate for ``hosts``. Returns the three paths."""
    import trustme  # only a local cluster with TLS needs it

    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="imload local cluster")
    cert = ca.issue_cert(*hosts)
    ca_path, chain_path, key_path = (folder / "ca.pem", folder / "server.pem",
                                     folder / "server.key")
    ca.cert_pem.write_to_path(str(ca_path))
    cert.private_key_pem.write_to_path(str(key_path))
    chain_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    key_path.chmod(0o600)
    return ca_path, chain_path, key_path
