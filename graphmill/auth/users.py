"""Users and their API keys."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from graphmill.auth import tokens
from graphmill.db import Database
from graphmill.db.models import ApiKey, User, utcnow
from graphmill.errors import ApiKeyNotFound, BadCredentials, TooManyApiKeys, UserAlreadyExists

LOCAL_USER_EMAIL = "local@graphmill.localhost"
LOCAL_USER_ID = uuid.UUID("00000000-0000-5000-8000-000000000001")
LAST_USED_RESOLUTION = timedelta(minutes=5)


@dataclass(frozen=True)
class UserInfo:
    """A user as a request acts: the tenant it works in (their stored choice, or the
    request's `X-Tenant-Id`) and the credential it presented are part of the identity."""

    id: uuid.UUID
    email: str
    is_active: bool
    is_superuser: bool
    is_verified: bool
    tenant_id: uuid.UUID | None = None
    credential: str = "local"  # "api_key:<prefix>", "token", "cookie" or "local"

    @classmethod
    def of(cls, row: User) -> UserInfo:
        return cls(
            row.id, row.email, row.is_active, row.is_superuser, row.is_verified, row.tenant_id
        )


@dataclass(frozen=True)
class ApiKeyInfo:
    id: uuid.UUID
    name: str | None
    label: str
    key: str | None  # only when just created
    created_at: datetime


async def register_user(db: Database, email: str, password: str) -> UserInfo:
    """Create a user; UserAlreadyExists when the email is taken."""
    hashed = tokens.hash_password(password)
    row = User(email=email.lower(), hashed_password=hashed)
    try:
        async with db.write() as session:
            session.add(row)
    except IntegrityError as exc:
        raise UserAlreadyExists() from exc
    return UserInfo.of(row)


async def authenticate(db: Database, email: str, password: str) -> UserInfo:
    """The user with this email and password; BadCredentials otherwise."""
    row = None
    # No stored email holds a NUL (emails are validated), and PostgreSQL refuses one in a
    # query: such a name is simply unknown, checked as slowly as any other.
    if "\x00" not in email:
        async with db.read() as session:
            row = await session.scalar(select(User).where(User.email == email.lower()))
    hashed = row.hashed_password if row is not None else None
    if not tokens.verify_password(password, hashed) or row is None or not row.is_active:
        raise BadCredentials()
    return UserInfo.of(row)


async def get_user(db: Database, user_id: uuid.UUID) -> UserInfo | None:
    async with db.read() as session:
        row = await session.get(User, user_id)
    return UserInfo.of(row) if row is not None and row.is_active else None


class UserCache:
    """Active users by id for a few seconds, so authenticating a request usually costs no
    database round trip. A deactivated user stays valid for at most `ttl` seconds."""

    def __init__(self, db: Database, ttl: float = 5.0) -> None:
        self.db = db
        self.ttl = ttl
        self._entries: dict[uuid.UUID, tuple[float, UserInfo | None]] = {}

    async def get(self, user_id: uuid.UUID) -> UserInfo | None:
        now = time.monotonic()
        found = self._entries.get(user_id)
        if found is not None and now - found[0] < self.ttl:
            return found[1]
        user = await get_user(self.db, user_id)
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[user_id] = (now, user)
        return user

    def forget(self, user_id: uuid.UUID) -> None:
        """Drop a user's entry after a change to them (a tenant selected)."""
        self._entries.pop(user_id, None)


async def find_user_id(db: Database, email: str) -> uuid.UUID | None:
    async with db.read() as session:
        return await session.scalar(select(User.id).where(User.email == email.lower()))


async def ensure_local_user(db: Database) -> UserInfo:
    """The password-less user that acts when authentication is off. It cannot log in."""
    async with db.read() as session:
        row = await session.get(User, LOCAL_USER_ID)
    if row is None:
        try:
            async with db.write() as session:
                row = User(id=LOCAL_USER_ID, email=LOCAL_USER_EMAIL, hashed_password=None)
                session.add(row)
        except IntegrityError:
            async with db.read() as session:
                row = await session.get(User, LOCAL_USER_ID)
    assert row is not None
    return UserInfo.of(row)


async def create_api_key(
    db: Database, user_id: uuid.UUID, name: str | None, limit: int
) -> ApiKeyInfo:
    """A new key for the user; the raw key is returned here and never again."""
    raw = tokens.new_api_key()
    row = ApiKey(user_id=user_id, name=name, key_hash=tokens.hash_api_key(raw), prefix=raw[:8])
    async with db.write() as session:
        count = await session.scalar(
            select(func.count()).select_from(ApiKey).where(ApiKey.user_id == user_id)
        )
        if (count or 0) >= limit:
            raise TooManyApiKeys()
        session.add(row)
    return ApiKeyInfo(row.id, row.name, f"{row.prefix}****", raw, row.created_at)


async def list_api_keys(db: Database, user_id: uuid.UUID) -> list[ApiKeyInfo]:
    async with db.read() as session:
        rows = await session.scalars(
            select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at)
        )
        return [ApiKeyInfo(r.id, r.name, f"{r.prefix}****", None, r.created_at) for r in rows]


async def delete_api_key(db: Database, user_id: uuid.UUID, key_id: uuid.UUID) -> None:
    """Delete one of the user's keys; ApiKeyNotFound for a missing or foreign key."""
    async with db.write() as session:
        result = await session.execute(
            delete(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise ApiKeyNotFound()


async def user_for_api_key(db: Database, raw_key: str) -> UserInfo | None:
    """The active owner of a key, refreshing the key's last use at most every five minutes."""
    key_hash = tokens.hash_api_key(raw_key)
    async with db.read() as session:
        found = (
            await session.execute(
                select(ApiKey, User)
                .join(User, User.id == ApiKey.user_id)
                .where(ApiKey.key_hash == key_hash)
            )
        ).first()
    if found is None or not found[1].is_active:
        return None
    key, user = found
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        async with db.write() as session:
            await session.execute(
                update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now)
            )
    return replace(UserInfo.of(user), credential=f"api_key:{key.prefix}")
