"""Password hashing, login tokens (JWT) and API-key material."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from graphmill.config import Settings

AUDIENCE = ["fastapi-users:auth"]
_hasher = PasswordHasher()
# Checking a password against this keeps "no such user" as slow as "wrong password". A hash
# of a random password nobody kept, with the hasher's default cost, written out: computing it
# at import cost every process 0.3 s of start-up.
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$KVYkDQkiZNVt0MiO6dCd7g"
    "$kmX2INMecwBMGtB2KDQ2sFFrJP7ho0nv/CDt6k+nt0M"
)


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


class TokenReader:
    """The user id in a valid token, or None. Tokens already verified are remembered until
    they expire: checking a signature costs ~0.5 ms, more than a whole status request. Keyed
    by the exact token string, so a token is trusted only as far as its own verified
    signature and expiry."""

    def __init__(self, secret: str, size: int = 10_000) -> None:
        self.secret = secret
        self.size = size
        self._verdicts: dict[str, tuple[uuid.UUID, float]] = {}

    def read(self, token: str) -> uuid.UUID | None:
        found = self._verdicts.get(token)
        if found is not None and found[1] > time.time():
            return found[0]
        try:
            payload = jwt.decode(token, self.secret, algorithms=["HS256"], audience=AUDIENCE)
            user_id, expires = uuid.UUID(payload["sub"]), float(payload["exp"])
        except (jwt.PyJWTError, KeyError, ValueError, TypeError):
            return None
        if len(self._verdicts) >= self.size:
            self._verdicts.clear()
        self._verdicts[token] = (user_id, expires)
        return user_id


def new_api_key() -> str:
    return secrets.token_hex(32)


def hash_api_key(key: str) -> str:
    # API keys carry 256 bits of randomness, so a fast hash is enough (no dictionary to try).
    return hashlib.sha256(key.encode()).hexdigest()
