"""improve as a pipeline run: what an item's outputs changed; a run's items at a time

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 04:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("item_status") as batch:
        batch.add_column(sa.Column("changes", sa.Integer(), nullable=True))
    with op.batch_alter_table("pipeline_runs") as batch:
        batch.add_column(sa.Column("data_per_batch", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pipeline_runs") as batch:
        batch.drop_column("data_per_batch")
    with op.batch_alter_table("item_status") as batch:
        batch.drop_column("changes")
