"""teams: tenants, roles, memberships; a dataset's and a user's tenant; grants to any principal

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 04:30:00

A dataset's id is derived from (name, owner, tenant), so the (owner, name) unique constraint
gives way to an index: the same name in two tenants is two datasets. `acl.principal_id` may now
name a role or a tenant, so it no longer refers to `users`.
"""

import sqlalchemy as sa
from alembic import op

import graphmill.db.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TIME = graphmill.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_tenants_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
    )
    op.create_table(
        "tenant_members",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_members_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_tenant_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", name=op.f("pk_tenant_members")),
    )
    op.create_index("ix_tenant_members_user", "tenant_members", ["user_id", "tenant_id"])
    op.create_table(
        "roles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_roles_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roles")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_roles_tenant_name"),
    )
    op.create_table(
        "role_members",
        sa.Column("role_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["roles.id"],
            name=op.f("fk_role_members_role_id_roles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_role_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("role_id", "user_id", name=op.f("pk_role_members")),
    )
    op.create_index("ix_role_members_user", "role_members", ["user_id", "role_id"])
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("tenant_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_users_tenant_id_tenants"),
            "tenants",
            ["tenant_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("datasets") as batch_op:
        batch_op.add_column(sa.Column("tenant_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_datasets_tenant_id_tenants"), "tenants", ["tenant_id"], ["id"]
        )
        batch_op.drop_constraint("uq_datasets_owner_name", type_="unique")
        batch_op.create_index("ix_datasets_owner_name", ["owner_id", "name"])
    with op.batch_alter_table("acl") as batch_op:
        batch_op.drop_constraint("fk_acl_principal_id_users", type_="foreignkey")


def downgrade() -> None:
    op.execute("DELETE FROM acl WHERE principal_id NOT IN (SELECT id FROM users)")
    with op.batch_alter_table("acl") as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_acl_principal_id_users"), "users", ["principal_id"], ["id"], ondelete="CASCADE"
        )
    with op.batch_alter_table("datasets") as batch_op:
        batch_op.drop_index("ix_datasets_owner_name")
        batch_op.create_unique_constraint("uq_datasets_owner_name", ["owner_id", "name"])
        batch_op.drop_constraint("fk_datasets_tenant_id_tenants", type_="foreignkey")
        batch_op.drop_column("tenant_id")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_constraint("fk_users_tenant_id_tenants", type_="foreignkey")
        batch_op.drop_column("tenant_id")
    op.drop_index("ix_role_members_user", table_name="role_members")
    op.drop_table("role_members")
    op.drop_table("roles")
    op.drop_index("ix_tenant_members_user", table_name="tenant_members")
    op.drop_table("tenant_members")
    op.drop_table("tenants")
