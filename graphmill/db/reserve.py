"""Room held back in the store of record, so that a run can always end.

A store full to the last byte refuses even the in-place changes that end a run: on
PostgreSQL a changed row is a new row version, and when its page has no room it needs a
new page and new index entries (seen in CI: `could not extend file` on the item status
index while failing a run). The run then stayed `running`, and a blocking cognify waiting
for it never answered, until an operator made room. The reserve is one row of
incompressible bytes taken while there is room; ending a run that the store refuses gives
it up (DELETE, and on PostgreSQL VACUUM, which truncates the emptied pages off the files:
the volume gets the room back; SQLite reuses the freed pages itself), and the end fits.
It is taken again at start-up and at each sweep once there is room.
"""

from __future__ import annotations

import contextlib
import logging
import os

from sqlalchemy import delete, exists, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from graphmill.db.engine import Database
from graphmill.db.models import StoreReserve
from graphmill.errors import StorageError, StoreFull

log = logging.getLogger("graphmill.db")

_VACUUM = text("VACUUM store_reserve")


async def keep(db: Database, size: int) -> bool:
    """Hold `size` bytes in reserve unless already held; False when there is no room (or
    `size` is 0). On PostgreSQL the table is vacuumed once now, while there is room: that
    creates the visibility and free-space maps which the VACUUM that gives it up would
    otherwise have to create, on a volume with no room for them."""
    if size <= 0:
        return False
    try:
        if await db.read_scalar(select(exists().where(StoreReserve.id == 1)), inline=True):
            return True
        filler = os.urandom(size)  # incompressible: it takes its size on disk
        await db.run(lambda conn: conn.execute(insert(StoreReserve).values(id=1, filler=filler)))
    except StoreFull:
        return False
    except IntegrityError:
        return True  # another process took it first
    if not db.is_sqlite:
        with contextlib.suppress(StorageError, DBAPIError):  # the maps wait for a next VACUUM
            await db.execute_outside_transaction(_VACUUM)
    log.info("store reserve held", extra={"action": "reserve.keep", "bytes": size})
    return True


async def give_up(db: Database) -> bool:
    """Release the reserve's room to the store: True when room may have been returned (the
    row deleted; on PostgreSQL, the VACUUM that returns its pages done, which also returns
    those of a row deleted by an earlier give-up whose VACUUM was refused). Never raises:
    a failure here is logged, and the caller's own error stands."""
    try:
        released = await db.run(lambda conn: conn.execute(delete(StoreReserve)).rowcount)
        if not db.is_sqlite:
            await db.execute_outside_transaction(_VACUUM)
            released = True
    except Exception:
        log.warning("store reserve not given up", exc_info=True, extra={"action": "reserve"})
        return False
    if released:
        log.warning(
            "the store of record is full: its reserve was given up to end a run",
            extra={"action": "reserve.give_up"},
        )
    return bool(released)
