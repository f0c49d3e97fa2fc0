"""A small local certificate authority: the local stand-in for AWS IoT Core's certificate issuing.

`LocalCA(directory)` creates (or loads) a self-signed CA in `directory/ca.pem` + `ca.key` and
issues

- server certificates for the local MQTT broker (`issue_server_certificate`), and
- device certificates whose subject CN is the thing name (`issue_device_certificate`, the local
  equivalent of `iot:CreateKeysAndCertificate` followed by writing the files on the device).

The broker (`localcloud.iot.broker.MosquittoBroker`) trusts only this CA and takes the client's
identity (its username, used by the ACL) from the certificate's CN, so a device certificate made
here connects to the local broker exactly as an IoT Core certificate connects to IoT Core.

Private keys are written with mode 0600; certificates with 0644.

Differences from AWS
--------------------
- IoT Core's `CreateKeysAndCertificate` returns a 2048-bit RSA key signed by Amazon's CA and
  the device trusts Amazon's root CA (AmazonRootCA1). Here keys are ECDSA P-256 (fast to make;
  IoT Core accepts them for certificates from a CSR) and the device trusts this local CA, which
  also signs the broker's server certificate.
- There is no certificate registry: no certificate ids to activate, revoke or attach. A
  certificate is valid if this CA signed it. `DeviceCredentials.certificate_id` is computed as
  IoT Core computes it (SHA-256 of the DER certificate), for logs only.
- IoT Core derives the thing name from the client id and the attached thing; here the identity
  is the certificate's CN (mosquitto's `use_identity_as_username`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_COMMON_NAME = "sensehat-pipeline local CA"
CA_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=825)
_SAFE_NAME = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")  # IoT Core's thing-name alphabet


@dataclass(frozen=True)
class DeviceCredentials:
    """The three files a device needs to connect: its certificate, its key, the CA to trust."""

    certificate: Path
    private_key: Path
    ca: Path

    @property
    def certificate_id(self) -> str:
        """SHA-256 of the DER certificate, hex (how IoT Core names a certificate)."""
        cert = x509.load_pem_x509_certificate(self.certificate.read_bytes())
        return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` with permission bits `mode`, also when the file already exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _san(hostname: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(hostname))
    except ValueError:
        return x509.DNSName(hostname)


class LocalCA:
    """A certificate authority kept in one directory (created on first use, loaded after)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.certificate_path = self.directory / "ca.pem"
        self.key_path = self.directory / "ca.key"
        has_cert, has_key = self.certificate_path.exists(), self.key_path.exists()
        if has_cert != has_key:
            missing = self.key_path if has_cert else self.certificate_path
            raise FileNotFoundError(
                f"incomplete CA in {self.directory}: {missing.name} is missing; "
                "remove the directory to start a new CA"
            )
        if has_cert:
            self._cert = x509.load_pem_x509_certificate(self.certificate_path.read_bytes())
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{self.key_path} is not an EC private key")
            self._key = key
        else:
            self._key, self._cert = self._create()

    def _create(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        _write(self.key_path, _key_pem(key), 0o600)
        _write(self.certificate_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        return key, cert

    def _issue(
        self,
        common_name: str,
        usage: x509.ObjectIdentifier,
        alt_names: Sequence[x509.GeneralName] = (),
    ) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + LEAF_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), False
            )
        )
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), False)
        cert = builder.sign(self._key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)

    def issue_server_certificate(self, hostnames: Sequence[str]) -> tuple[Path, Path]:
        """A TLS server certificate for `hostnames` (DNS names or IP addresses).

        Returns (certificate path, private key path) under `directory/server/`; the files are
        named after the first hostname and rewritten on every call.
        """
        if not hostnames:
            raise ValueError("a server certificate needs at least one hostname")
        cert_pem, key_pem = self._issue(
            hostnames[0], ExtendedKeyUsageOID.SERVER_AUTH, [_san(h) for h in hostnames]
        )
        stem = re.sub(r"[^a-zA-Z0-9.-]", "_", hostnames[0])
        cert_path = self.directory / "server" / f"{stem}.pem.crt"
        key_path = self.directory / "server" / f"{stem}.pem.key"
        _write(cert_path, cert_pem, 0o644)
        _write(key_path, key_pem, 0o600)
        return cert_path, key_path

    def issue_device_certificate(self, thing_name: str) -> DeviceCredentials:
        """New keys and a client certificate with CN = `thing_name`.

        Files: `directory/devices/<thing_name>/certificate.pem.crt` and `private.pem.key` (0600);
        a second call for the same thing replaces both, as a new CreateKeysAndCertificate would.
        """
        if not _SAFE_NAME.match(thing_name):
            raise ValueError(
                f"thing name {thing_name!r} is not valid: use 1-128 of a-z A-Z 0-9 : _ -"
            )
        cert_pem, key_pem = self._issue(thing_name, ExtendedKeyUsageOID.CLIENT_AUTH)
        folder = self.directory / "devices" / thing_name
        credentials = DeviceCredentials(
            certificate=folder / "certificate.pem.crt",
            private_key=folder / "private.pem.key",
            ca=self.certificate_path,
        )
        _write(credentials.certificate, cert_pem, 0o644)
        _write(credentials.private_key, key_pem, 0o600)
        return credentials
