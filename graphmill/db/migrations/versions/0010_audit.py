"""audit trail: who changed access, deleted or downloaded what, when, with which credential

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 05:00:00

No foreign keys: an event outlives the dataset, item, role or tenant it names.
"""

import sqlalchemy as sa
from alembic import op

import graphmill.db.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", graphmill.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=False),
        sa.Column("credential", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("dataset_id", sa.Uuid(), nullable=True),
        sa.Column("data_id", sa.Uuid(), nullable=True),
        sa.Column("target_id", sa.Uuid(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_events_tenant", "audit_events", ["tenant_id", "at"])
    op.create_index("ix_audit_events_actor", "audit_events", ["actor_id", "tenant_id", "at"])
    op.create_index("ix_audit_events_dataset", "audit_events", ["dataset_id", "at"])
    op.create_index("ix_audit_events_at", "audit_events", ["at"])


def downgrade() -> None:
    for name in ("at", "dataset", "actor", "tenant"):
        op.drop_index(f"ix_audit_events_{name}", table_name="audit_events")
    op.drop_table("audit_events")
