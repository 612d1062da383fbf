"""pending runs restartable from their row; one use per webhook signature

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_signatures",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("expires_at", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_webhook_signatures")),
    )
    op.create_index(
        op.f("ix_webhook_signatures_expires_at"), "webhook_signatures", ["expires_at"]
    )
    with op.batch_alter_table("executions") as batch:
        batch.add_column(
            sa.Column("reuses_outputs", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("reuses_outputs")
    op.drop_index(op.f("ix_webhook_signatures_expires_at"), table_name="webhook_signatures")
    op.drop_table("webhook_signatures")
