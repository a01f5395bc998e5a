"""Secrets encrypted at rest (LLM provider API keys …) with a key derived from SECRET_KEY.

The Fernet key (AES-128-CBC + HMAC-SHA256, authenticated) is derived from ``SECRET_KEY`` with HKDF-SHA256
and a fixed context label, so the same SECRET_KEY always yields the same key and the session key derived
elsewhere from SECRET_KEY is unrelated to it. Changing SECRET_KEY makes stored secrets unreadable:
:func:`decrypt_secret` then raises :class:`SecretDecryptError` and the operator has to enter them again.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

CONTEXT_LABEL = b"worktool-ai-hub/secrets-at-rest/v1"


class SecretDecryptError(ValueError):
    """A stored secret cannot be decrypted: SECRET_KEY changed, or the value is damaged."""


@lru_cache(maxsize=8)
def _fernet(secret_key: str) -> Fernet:
    if not secret_key:
        raise ValueError("SECRET_KEY 为空，无法加密或解密密钥")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=CONTEXT_LABEL).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt_secret(plain: str, secret_key: str) -> str:
    """Encrypt ``plain`` for storage; the token is ASCII (URL-safe base64) and differs on every call."""
    return _fernet(secret_key).encrypt(plain.encode()).decode("ascii")


def decrypt_secret(token: str, secret_key: str) -> str:
    """Decrypt a token made by :func:`encrypt_secret` with the same SECRET_KEY."""
    try:
        return _fernet(secret_key).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as exc:
        raise SecretDecryptError(
            "无法解密已保存的密钥：SECRET_KEY 可能已更改或数据已损坏，请重新填写该密钥"
        ) from exc


def mask_secret(plain: str) -> str:
    """A display form that shows only the ends of a secret (``sk-a…7f3e``)."""
    if len(plain) <= 8:
        return "*" * len(plain)
    return f"{plain[:4]}…{plain[-4:]}"
