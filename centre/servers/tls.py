"""A certificate authority and a server certificate for 127.0.0.1, made with `openssl`.

The centre's set-up writes them into its state folder; a hub's configuration names the CA file,
so it trusts only this centre's brokers.
"""

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = {names}
"""


class CertificateError(Exception):
    """openssl is missing or refused to make a certificate."""


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    """Where the PEM files are: the CA (for clients), and the server's certificate and key."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def _openssl(*args: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        msg = "openssl is not installed (apt-get install openssl)"
        raise CertificateError(msg)
    done = subprocess.run([openssl, *args], capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        msg = f"openssl {args[0]} failed: {done.stderr.strip()}"
        raise CertificateError(msg)


def make_certificates(
    folder: Path, *, hosts: tuple[str, ...] = ("127.0.0.1", "localhost"), days: int = 825
) -> ServerCertificate:
    """Make a CA and a server certificate for `hosts` (IP addresses or names) in `folder`.

    Files already there are kept: hubs configured with that CA go on trusting it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    made = ServerCertificate(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    if made.ca_file.exists() and made.cert_file.exists() and made.key_file.exists():
        return made
    ca_key = folder / "ca.key"
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    subject = "/CN=Telecare monitoring centre CA"
    _openssl("req", "-x509", *curve, "-keyout", str(ca_key), "-out", str(made.ca_file),
             "-days", str(days + 365), "-subj", subject)  # fmt: skip
    csr = folder / "server.csr"
    _openssl("req", *curve, "-keyout", str(made.key_file), "-out", str(csr), "-subj",
             f"/CN={hosts[0]}")  # fmt: skip
    names = ", ".join(f"IP:{h}" if h.replace(".", "").isdigit() else f"DNS:{h}" for h in hosts)
    extensions = folder / "server.ext"
    extensions.write_text(_SERVER_EXTENSIONS.format(names=names))
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(made.ca_file), "-CAkey", str(ca_key),
             "-CAcreateserial", "-out", str(made.cert_file), "-days", str(days),
             "-extfile", str(extensions))  # fmt: skip
    for secret in (ca_key, made.key_file):
        secret.chmod(0o600)
    csr.unlink()
    return made
