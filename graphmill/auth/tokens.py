"""Password hashing, login tokens (JWT) and API-key material."""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from graphmill.config import Settings

AUDIENCE = ["fastapi-users:auth"]
_hasher = PasswordHasher()
# Checking a password against this keeps "no such user" as slow as "wrong password".
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, hashed: str | None) -> bool:
    try:
        return _hasher.verify(hashed or _DUMMY_HASH, password) and hashed is not None
    except (VerificationError, InvalidHashError):
        return False


def load_jwt_secret(settings: Settings) -> str:
    """The configured secret, or one generated once and kept (mode 600) in the data folder."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path: Path = settings.data_dir / "jwt_secret"
    if not path.exists():
        # Write aside, then link into place: two processes starting at once agree on one secret.
        tmp = path.with_name(f"jwt_secret.{secrets.token_hex(4)}")
        tmp.write_text(secrets.token_urlsafe(48))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


def issue_token(user_id: uuid.UUID, secret: str, lifetime_seconds: int) -> str:
    payload = {
        "sub": str(user_id),
        "aud": AUDIENCE,
        "exp": datetime.now(UTC) + timedelta(seconds=lifetime_seconds),
    }
    return jwt.encode(payload, secret, algorithm="HS256")


def read_token(token: str, secret: str) -> uuid.UUID | None:
    """The user id in a valid token, or None."""
    try:
        payload = jwt.decode(token, secret, algorithms=["HS256"], audience=AUDIENCE)
        return uuid.UUID(payload["sub"])
    except (jwt.PyJWTError, KeyError, ValueError):
        return None


def new_api_key() -> str:
    return secrets.token_hex(32)


def hash_api_key(key: str) -> str:
    # API keys carry 256 bits of randomness, so a fast hash is enough (no dictionary to try).
    return hashlib.sha256(key.encode()).hexdigest()
