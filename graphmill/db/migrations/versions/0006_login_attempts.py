"""login attempts per account and per address, for the login rate limit

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:00:00

Counted in the store of record, so the limit holds however many API processes share it.
"""

import sqlalchemy as sa
from alembic import op

import graphmill.db.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "window_started_at", graphmill.db.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_login_attempts")),
    )
    op.create_index("ix_login_attempts_window", "login_attempts", ["window_started_at"])


def downgrade() -> None:
    op.drop_index("ix_login_attempts_window", table_name="login_attempts")
    op.drop_table("login_attempts")
