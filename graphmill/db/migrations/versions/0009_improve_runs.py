"""improve as a pipeline run: what an item's outputs changed; a run's items at a time;
users' stored configurations (the web frontend's)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 04:20:00
"""

import sqlalchemy as sa
from alembic import op

import graphmill.db.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("item_status") as batch:
        batch.add_column(sa.Column("changes", sa.Integer(), nullable=True))
    with op.batch_alter_table("pipeline_runs") as batch:
        batch.add_column(sa.Column("data_per_batch", sa.Integer(), nullable=True))
    op.create_table(
        "user_configurations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("configuration", sa.JSON(), nullable=False),
        sa.Column("created_at", graphmill.db.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", graphmill.db.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_user_configurations_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_configurations")),
        sa.UniqueConstraint("owner_id", "name", name=op.f("uq_user_configurations_owner_id")),
    )


def downgrade() -> None:
    op.drop_table("user_configurations")
    with op.batch_alter_table("pipeline_runs") as batch:
        batch.drop_column("data_per_batch")
    with op.batch_alter_table("item_status") as batch:
        batch.drop_column("changes")
