"""status reads from covering indexes; edges by their ends

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:30:00

The status query probes the latest run of each readable dataset: the run index now carries
the state (no table lookup per probe), and a caller's readable datasets are one range of an
index on (principal, permission).
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_pipeline_runs_latest", table_name="pipeline_runs")
    op.create_index(
        "ix_pipeline_runs_latest",
        "pipeline_runs",
        ["dataset_id", "pipeline_name", "created_at", "state"],
    )
    op.create_index("ix_acl_principal", "acl", ["principal_id", "permission", "dataset_id"])
    # Deleting a node deletes its edges (cascade): found by index, not by a scan.
    op.create_index("ix_edges_source", "edges", ["source_id"])
    op.create_index("ix_edges_target", "edges", ["target_id"])


def downgrade() -> None:
    op.drop_index("ix_edges_target", table_name="edges")
    op.drop_index("ix_edges_source", table_name="edges")
    op.drop_index("ix_acl_principal", table_name="acl")
    op.drop_index("ix_pipeline_runs_latest", table_name="pipeline_runs")
    op.create_index(
        "ix_pipeline_runs_latest", "pipeline_runs", ["dataset_id", "pipeline_name", "created_at"]
    )
