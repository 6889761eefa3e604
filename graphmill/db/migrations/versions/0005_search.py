"""search: entry logs, full-text indexes, history

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00

Database triggers keep search's structures in step with the graph store, whichever process
writes it: on SQLite, `search_chunks` / `search_nodes` number new chunks and entities in
commit order (in-memory vector copies follow them) and `search_fts`, an FTS5 index keyed by
that number, holds every chunk's words; on PostgreSQL, `search_fts` holds each chunk's
`tsvector` under a GIN index and entity vectors get an HNSW index. Objects named `search_fts*`
and `ix_nodes_hnsw*` are made here per backend and are not part of the ORM models.
"""

import sqlalchemy as sa
from alembic import op

import graphmill.db.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SQLITE = [
    # The FTS5 index reads a chunk's text through this view (external content), so the text
    # is stored once; rowid = search_chunks.seq (whose row names the chunk and dataset).
    "CREATE VIEW search_fts_content AS SELECT s.seq AS seq, c.text AS text "
    "FROM search_chunks s JOIN chunks c ON c.id = s.chunk_id",
    # Words case- and accent-folded and stemmed (Porter), ranked by BM25.
    "CREATE VIRTUAL TABLE search_fts USING fts5(text, content='search_fts_content', "
    "content_rowid='seq', tokenize='porter unicode61 remove_diacritics 2')",
    """CREATE TRIGGER search_chunks_added AFTER INSERT ON chunks BEGIN
        INSERT INTO search_chunks(chunk_id, dataset_id) VALUES (new.id, new.dataset_id);
        INSERT INTO search_fts(rowid, text) VALUES (last_insert_rowid(), new.text);
    END""",
    """CREATE TRIGGER search_chunks_removed AFTER DELETE ON chunks BEGIN
        INSERT INTO search_fts(search_fts, rowid, text)
            SELECT 'delete', seq, old.text FROM search_chunks WHERE chunk_id = old.id;
        DELETE FROM search_chunks WHERE chunk_id = old.id;
    END""",
    """CREATE TRIGGER search_nodes_added AFTER INSERT ON nodes BEGIN
        INSERT INTO search_nodes(node_id, dataset_id) VALUES (new.id, new.dataset_id);
    END""",
    """CREATE TRIGGER search_nodes_removed AFTER DELETE ON nodes BEGIN
        DELETE FROM search_nodes WHERE node_id = old.id;
    END""",
    # What existed before this migration.
    "INSERT INTO search_chunks(chunk_id, dataset_id) SELECT id, dataset_id FROM chunks "
    "ORDER BY created_at",
    "INSERT INTO search_fts(search_fts) VALUES ('rebuild')",
    "INSERT INTO search_nodes(node_id, dataset_id) SELECT id, dataset_id FROM nodes",
]

POSTGRESQL = [
    """CREATE TABLE search_fts (
        chunk_id uuid PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
        dataset_id uuid NOT NULL,
        tsv tsvector NOT NULL
    )""",
    "CREATE INDEX search_fts_tsv ON search_fts USING gin (tsv)",
    "CREATE INDEX search_fts_dataset ON search_fts (dataset_id)",
    """CREATE FUNCTION search_fts_add() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO search_fts (chunk_id, dataset_id, tsv)
        SELECT id, dataset_id, to_tsvector('english', text) FROM search_fts_new;
        RETURN NULL;
    END $$""",
    # One statement per insert statement (the graph store inserts an item's chunks at once).
    "CREATE TRIGGER search_fts_added AFTER INSERT ON chunks REFERENCING NEW TABLE AS "
    "search_fts_new FOR EACH STATEMENT EXECUTE FUNCTION search_fts_add()",
    "INSERT INTO search_fts (chunk_id, dataset_id, tsv) "
    "SELECT id, dataset_id, to_tsvector('english', text) FROM chunks",
    # Entities matched by vector: the default model's dimension; others scan exactly.
    "CREATE INDEX IF NOT EXISTS ix_nodes_hnsw_384 ON nodes USING hnsw "
    "((embedding::vector(384)) vector_cosine_ops) WHERE vector_dims(embedding) = 384",
]


def upgrade() -> None:
    op.create_table(
        "search_chunks",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("chunk_id", sa.Uuid(), nullable=False),
        sa.Column("dataset_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_search_chunks")),
        sa.UniqueConstraint("chunk_id", name=op.f("uq_search_chunks_chunk_id")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_search_chunks_dataset", "search_chunks", ["dataset_id", "seq"])
    op.create_table(
        "search_nodes",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("node_id", sa.Uuid(), nullable=False),
        sa.Column("dataset_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_search_nodes")),
        sa.UniqueConstraint("node_id", name=op.f("uq_search_nodes_node_id")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_search_nodes_dataset", "search_nodes", ["dataset_id", "seq"])
    op.create_table(
        "search_history",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("query_id", sa.Uuid(), nullable=True),
        sa.Column("dataset_id", sa.Uuid(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("search_type", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", graphmill.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_search_history_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_search_history_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_history")),
    )
    op.create_index("ix_search_history_user", "search_history", ["user_id", "created_at"])
    statements = SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRESQL
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("search_chunks_added", "search_chunks_removed"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        for name in ("search_nodes_added", "search_nodes_removed"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS search_fts")
        op.execute("DROP VIEW IF EXISTS search_fts_content")
    else:
        op.execute("DROP INDEX IF EXISTS ix_nodes_hnsw_384")
        op.execute("DROP TRIGGER IF EXISTS search_fts_added ON chunks")
        op.execute("DROP FUNCTION IF EXISTS search_fts_add()")
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_index("ix_search_history_user", table_name="search_history")
    op.drop_table("search_history")
    op.drop_index("ix_search_nodes_dataset", table_name="search_nodes")
    op.drop_table("search_nodes")
    op.drop_index("ix_search_chunks_dataset", table_name="search_chunks")
    op.drop_table("search_chunks")
