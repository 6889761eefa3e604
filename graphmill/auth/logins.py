"""Login attempts: a fixed-window limit per account and per client address.

Every attempt is counted before the password is checked, in one atomic upsert per key in
the store of record, so concurrent attempts through any number of API processes cannot pass
the limit together; a successful login then takes its attempt back and clears the account.
Unknown emails are counted like known ones: the limit tells nothing about who exists.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from sqlalchemy import case, delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from graphmill.auth.users import UserInfo, authenticate
from graphmill.config import Settings
from graphmill.db import Database, dialect_insert, retrying
from graphmill.db.models import LoginAttempt, utcnow
from graphmill.errors import TooManyLoginAttempts

ACCOUNT = "account"
ADDRESS = "address"


def _key(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


async def _count(
    session: AsyncSession, scope: str, key: str, now: datetime, window: timedelta
) -> tuple[int, datetime]:
    """One more attempt for the key; its attempts and window start after counting it."""
    insert = dialect_insert(session)(LoginAttempt).values(
        scope=scope, key=key, attempts=1, window_started_at=now
    )
    expired = LoginAttempt.window_started_at <= now - window
    statement = insert.on_conflict_do_update(
        index_elements=["scope", "key"],
        set_={
            "attempts": case((expired, 1), else_=LoginAttempt.attempts + 1),
            "window_started_at": case(
                (expired, insert.excluded.window_started_at),
                else_=LoginAttempt.window_started_at,
            ),
        },
    ).returning(LoginAttempt.attempts, LoginAttempt.window_started_at)
    row = (await session.execute(statement)).one()
    return int(row.attempts), row.window_started_at


@retrying()
async def _take_attempt(db: Database, keys: list[tuple[str, str, int]], window: timedelta) -> None:
    """Count the attempt under every key; TooManyLoginAttempts when one is over its limit."""
    now = utcnow()
    wait = 0.0
    async with db.write() as session:
        # Stale windows go first; keys in one order in every transaction (no deadlock).
        await session.execute(
            delete(LoginAttempt).where(LoginAttempt.window_started_at <= now - window)
        )
        for scope, key, limit in keys:
            attempts, started = await _count(session, scope, key, now, window)
            if attempts > limit:
                wait = max(wait, (started + window - now).total_seconds())
    if wait > 0:
        raise TooManyLoginAttempts(max(1, math.ceil(wait)))


@retrying()
async def _give_back(db: Database, account: str, address: str) -> None:
    async with db.write() as session:
        await session.execute(
            delete(LoginAttempt).where(LoginAttempt.scope == ACCOUNT, LoginAttempt.key == account)
        )
        await session.execute(
            update(LoginAttempt)
            .where(LoginAttempt.scope == ADDRESS, LoginAttempt.key == address)
            .values(attempts=LoginAttempt.attempts - 1)
        )


async def log_in(
    db: Database, email: str, password: str, address: str, settings: Settings
) -> UserInfo:
    """The user with this email and password, within the attempt limits.

    TooManyLoginAttempts (with the seconds to wait) once the account or the address has used
    up its attempts in the window, whatever the password; BadCredentials otherwise.
    """
    account, client = _key(email.lower()), _key(address)
    keys = [
        (ACCOUNT, account, settings.login_attempts_per_account),
        (ADDRESS, client, settings.login_attempts_per_address),
    ]
    await _take_attempt(db, keys, timedelta(seconds=settings.login_window_seconds))
    user = await authenticate(db, email, password)  # BadCredentials: the attempt stays counted
    await _give_back(db, account, client)
    return user
