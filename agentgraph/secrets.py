"""Encryption of credentials at rest (API keys, OAuth client secrets, BYOK keys).

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) with key rotation through
``MultiFernet``: the first key in ``AGENTGRAPH_SECRETS__KEYS`` (comma-separated,
urlsafe base64 32-byte keys) encrypts; every key decrypts. Rotate by prepending a
new key, then calling :meth:`SecretBox.rotate` on stored tokens. The embedded
default generates a key once into ``<data_dir>/secret.key`` (mode 0600).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from agentgraph.errors import ConfigError


class SecretBox:
    """Encrypts and decrypts short secrets.

    Args:
        keys: Fernet keys, newest first (at least one).

    Raises:
        ConfigError: no key, or a key that is not a valid Fernet key.
    """

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigError("No encryption key configured; set AGENTGRAPH_SECRETS__KEYS or let `agentgraph up` create one.")
        try:
            self._fernet = MultiFernet([Fernet(k.strip().encode()) for k in keys])
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                "AGENTGRAPH_SECRETS__KEYS holds an invalid key; generate one with "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`."
            ) from exc

    def encrypt(self, plaintext: str) -> str:
        """Token (urlsafe base64 text) for ``plaintext``."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        """Plaintext of a token.

        Raises:
            ConfigError: the token was made with a key that is no longer configured, or is corrupt.
        """
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ConfigError(
                "A stored credential cannot be decrypted with the configured keys (was a key removed before rotation?)."
            ) from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt a token with the newest key."""
        return self._fernet.rotate(token.encode()).decode()


def load_or_create_keys(configured: list[str], data_dir: Path) -> list[str]:
    """Configured keys, else the key file under ``data_dir`` (created 0600 on first use)."""
    if configured:
        return configured
    path = Path(data_dir) / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(Fernet.generate_key().decode())
    return [path.read_text().strip()]


__all__ = ["SecretBox", "load_or_create_keys"]
