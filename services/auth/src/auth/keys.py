"""The auth service's Ed25519 signing keys and the JWKS that publishes them.

Keys are PEM files in `jwt_keys_dir` (the first is generated on first run);
the newest signs, and every one is published, so tokens signed before a
rotation stay valid until they expire. The directory is re-read when it
changes, so rotating needs no restart:

    python -m auth.keys rotate
"""

import base64
import hashlib
import json
import os
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from auth.settings import AuthSettings

ALGORITHM = "EdDSA"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey

    @classmethod
    def from_pem(cls, pem: bytes) -> "SigningKey":
        private_key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private_key, Ed25519PrivateKey):
            raise ValueError("the JWT signing key must be an Ed25519 private key")
        return cls(kid=_thumbprint(private_key), private_key=private_key)

    def public_jwk(self) -> dict[str, Any]:
        jwk = json.loads(OKPAlgorithm.to_jwk(self.private_key.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}


def _thumbprint(private_key: Ed25519PrivateKey) -> str:
    """RFC 7638 (and RFC 8037) JWK thumbprint: stable, derived from the key alone."""
    x = json.loads(OKPAlgorithm.to_jwk(private_key.public_key()))["x"]
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def write_new_key(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Names sort by creation time, so the newest key is the last one.
    path = directory / f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}.pem"
    # Written under a name the keyring ignores, then renamed: a running keyring
    # never reads a half-written key.
    partial = directory / f".{path.name}.partial"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
    return path


class KeyRing:
    """The keys in use: one from the settings, or every key file in the directory."""

    def __init__(self, settings: AuthSettings) -> None:
        self._fixed_key = (
            SigningKey.from_pem(settings.jwt_private_key.get_secret_value().encode())
            if settings.jwt_private_key
            else None
        )
        self._directory = settings.jwt_keys_dir
        self._lock = threading.Lock()
        self._loaded_version: int | None = None
        self._keys: list[SigningKey] = []
        if self._fixed_key is None and not sorted(self._directory.glob("*.pem")):
            write_new_key(self._directory)

    def signing_key(self) -> SigningKey:
        return self._current()[-1]

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [key.public_jwk() for key in self._current()]}

    def _current(self) -> list[SigningKey]:
        if self._fixed_key is not None:
            return [self._fixed_key]
        version = self._directory.stat().st_mtime_ns
        with self._lock:
            if version != self._loaded_version:
                self._keys = [SigningKey.from_pem(path.read_bytes()) for path in sorted(self._directory.glob("*.pem"))]
                self._loaded_version = version
            return self._keys


def main(argv: list[str]) -> int:
    if argv != ["rotate"]:
        print("usage: python -m auth.keys rotate", file=sys.stderr)
        return 2
    path = write_new_key(AuthSettings().jwt_keys_dir)
    print(f"new signing key {SigningKey.from_pem(path.read_bytes()).kid} in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
