"""a reserve of room in the store, given up so that a run can always end

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 02:30:00

One row of incompressible bytes (`graphmill.db.reserve`): when the store is so full that
even ending a run in place is refused, it is deleted (and on PostgreSQL vacuumed, which
hands its pages back to the volume), and the run's end fits.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_reserve",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("filler", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_reserve")),
    )


def downgrade() -> None:
    op.drop_table("store_reserve")
