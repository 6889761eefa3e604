"""graph retrieval reads provenance from covering indexes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 05:40:00

Graph retrieval looks up `node_sources` by item (the entities a seed passage's item
names) and by node (the items that name an entity): both indexes now carry
(node_id, data_id, mentions), so neither lookup reads the table rows, whose descriptions
make them wide.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_node_sources_data", table_name="node_sources")
    op.create_index("ix_node_sources_data", "node_sources", ["data_id", "node_id", "mentions"])
    op.create_index("ix_node_sources_node", "node_sources", ["node_id", "data_id", "mentions"])


def downgrade() -> None:
    op.drop_index("ix_node_sources_node", table_name="node_sources")
    op.drop_index("ix_node_sources_data", table_name="node_sources")
    op.create_index("ix_node_sources_data", "node_sources", ["data_id"])
