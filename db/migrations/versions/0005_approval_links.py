"""one use per signed approval link

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "approval_link_uses",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("execution_id", sa.Uuid(), nullable=False),
        sa.Column("step_id", sa.String(length=200), nullable=False),
        sa.Column("used_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_approval_link_uses_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_approval_link_uses")),
    )
    op.create_index(
        op.f("ix_approval_link_uses_execution_id"), "approval_link_uses", ["execution_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_approval_link_uses_execution_id"), table_name="approval_link_uses")
    op.drop_table("approval_link_uses")
