"""Users' named configurations (cognee's PrincipalConfiguration): the web frontend keeps its
graph models, prompts and pipeline settings in them. Each user reads and writes only their
own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from graphmill.db import Database, dialect_insert
from graphmill.db.models import UserConfiguration, utcnow


@dataclass(frozen=True)
class ConfigurationInfo:
    id: uuid.UUID
    owner_id: uuid.UUID
    name: str
    configuration: dict[str, Any]
    created_at: datetime
    updated_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """cognee's PrincipalConfiguration.to_json."""
        return {
            "id": str(self.id),
            "ownerId": str(self.owner_id),
            "name": self.name,
            "configuration": self.configuration,
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat() if self.updated_at else None,
        }


_COLUMNS = (
    UserConfiguration.id,
    UserConfiguration.owner_id,
    UserConfiguration.name,
    UserConfiguration.configuration,
    UserConfiguration.created_at,
    UserConfiguration.updated_at,
)


async def store_configuration(
    db: Database, user_id: uuid.UUID, name: str, configuration: dict[str, Any]
) -> None:
    """Create the user's configuration of that name, or replace its content."""
    now = utcnow()
    async with db.write() as session:
        statement = dialect_insert(session)(UserConfiguration).values(
            id=uuid.uuid4(),
            owner_id=user_id,
            name=name,
            configuration=configuration,
            created_at=now,
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["owner_id", "name"],
                set_={"configuration": configuration, "updated_at": now},
            )
        )


async def list_configurations(db: Database, user_id: uuid.UUID) -> list[ConfigurationInfo]:
    """The user's configurations, oldest first."""
    rows = await db.read_rows(
        select(*_COLUMNS)
        .where(UserConfiguration.owner_id == user_id)
        .order_by(UserConfiguration.created_at, UserConfiguration.name)
    )
    return [ConfigurationInfo(*row) for row in rows]


async def get_configuration(
    db: Database, user_id: uuid.UUID, config_id: uuid.UUID
) -> ConfigurationInfo | None:
    """One of the user's configurations; None when it is not theirs or does not exist."""
    rows = await db.read_rows(
        select(*_COLUMNS).where(
            UserConfiguration.id == config_id, UserConfiguration.owner_id == user_id
        )
    )
    return ConfigurationInfo(*rows[0]) if rows else None
