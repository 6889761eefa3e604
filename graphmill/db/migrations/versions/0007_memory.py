"""memory: session entries; per-dataset chunk size and chunks per batch

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:10:00
"""

import sqlalchemy as sa
from alembic import op

import graphmill.db.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.String(length=255), nullable=False),
        sa.Column("dataset_id", sa.Uuid(), nullable=True),
        sa.Column("entry_type", sa.String(length=16), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("feedback_text", sa.Text(), nullable=True),
        sa.Column("feedback_score", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", graphmill.db.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", graphmill.db.models.UTCDateTime(), nullable=False),
        sa.Column("improved_at", graphmill.db.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_session_entries_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_session_entries_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_entries")),
    )
    op.create_index(
        "ix_session_entries_user_session",
        "session_entries",
        ["user_id", "session_id", "created_at"],
    )
    op.create_index("ix_session_entries_dataset", "session_entries", ["dataset_id"])
    with op.batch_alter_table("dataset_configs") as batch:
        batch.add_column(sa.Column("chunk_size", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("chunks_per_batch", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dataset_configs") as batch:
        batch.drop_column("chunks_per_batch")
        batch.drop_column("chunk_size")
    op.drop_index("ix_session_entries_dataset", table_name="session_entries")
    op.drop_index("ix_session_entries_user_session", table_name="session_entries")
    op.drop_table("session_entries")
