"""express runs: executions.execution_mode and express_runner

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.add_column(
            sa.Column(
                "execution_mode", sa.String(length=20), nullable=False, server_default="durable"
            )
        )
        batch.add_column(sa.Column("express_runner", sa.String(length=200), nullable=True))
    # Finding a restarted process's unfinished express runs (and overdue ones) is cheap.
    op.create_index(
        "ix_executions_express_unfinished",
        "executions",
        ["express_runner", "status"],
        postgresql_where=sa.text("express_runner IS NOT NULL"),
        sqlite_where=sa.text("express_runner IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_executions_express_unfinished", table_name="executions")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("express_runner")
        batch.drop_column("execution_mode")
