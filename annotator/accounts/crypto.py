"""Encryption at rest for third-party secrets (the workspaces' Scale API keys)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def _fernet() -> MultiFernet:
    # MultiFernet: the first key encrypts, every key decrypts, so keys rotate
    # by prepending a new one to FERNET_KEYS.
    return MultiFernet([Fernet(k.encode()) for k in settings.FERNET_KEYS])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        # Never echo the token: it is the ciphertext of a secret.
        raise ValueError("stored secret cannot be decrypted with the configured FERNET_KEYS") from None


def hint(secret: str) -> str:
    """What may be shown back: the key's kind prefix and its last four characters."""
    if not secret:
        return ""
    prefix = secret.split("_", 1)[0] + "_" if "_" in secret[:6] else ""
    return f"{prefix}…{secret[-4:]}" if len(secret) > 8 else "…"
