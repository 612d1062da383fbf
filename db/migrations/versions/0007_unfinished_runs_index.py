"""a partial index for the start path's unfinished-runs quota

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The statuses of db.execution_projection.TERMINAL, sorted, as the quota query writes them.
UNFINISHED = "status NOT IN ('cancelled', 'completed', 'failed')"


def upgrade() -> None:
    op.create_index(
        "ix_executions_unfinished_by",
        "executions",
        ["created_by"],
        postgresql_where=sa.text(UNFINISHED),
        sqlite_where=sa.text(UNFINISHED),
    )


def downgrade() -> None:
    op.drop_index("ix_executions_unfinished_by", table_name="executions")
