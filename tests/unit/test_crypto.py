from __future__ import annotations

import pytest

from app.crypto import SecretDecryptError, decrypt_secret, encrypt_secret, mask_secret

KEY = "test-secret-key-0123456789abcdef"


@pytest.mark.parametrize("plain", ["sk-abcdef0123456789", "", "密钥🔑 with spaces"])
def test_round_trip(plain: str) -> None:
    token = encrypt_secret(plain, KEY)
    assert decrypt_secret(token, KEY) == plain


def test_token_is_ascii_hides_the_secret_and_is_randomised() -> None:
    first, second = encrypt_secret("sk-live-secret", KEY), encrypt_secret("sk-live-secret", KEY)
    assert first.isascii() and "sk-live-secret" not in first
    assert first != second
    assert decrypt_secret(second, KEY) == "sk-live-secret"


def test_changed_secret_key_raises_a_clear_error() -> None:
    token = encrypt_secret("sk-abc", KEY)
    with pytest.raises(SecretDecryptError, match="SECRET_KEY"):
        decrypt_secret(token, KEY + "-rotated")


@pytest.mark.parametrize("token", ["", "not-a-token", "gAAAAA" + "x" * 80, "令牌"])
def test_damaged_token_raises_secret_decrypt_error(token: str) -> None:
    with pytest.raises(SecretDecryptError):
        decrypt_secret(token, KEY)


def test_tampered_token_is_rejected() -> None:
    token = encrypt_secret("sk-abc", KEY)
    flipped = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(SecretDecryptError):
        decrypt_secret(flipped, KEY)


def test_key_is_derived_not_used_raw() -> None:
    # Any SECRET_KEY string works (not only 32-byte base64 Fernet keys) and keys are independent.
    token = encrypt_secret("x", "short but fine key")
    assert decrypt_secret(token, "short but fine key") == "x"
    with pytest.raises(SecretDecryptError):
        decrypt_secret(token, "short but fine kex")


def test_empty_secret_key_is_refused() -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        encrypt_secret("x", "")


def test_secret_decrypt_error_is_a_value_error() -> None:
    assert issubclass(SecretDecryptError, ValueError)


def test_mask_secret() -> None:
    assert mask_secret("sk-abcdef0123456789") == "sk-a…6789"
    assert mask_secret("short") == "*****"
