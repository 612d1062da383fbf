"""secrets: shared flag (a secret is its owner's alone unless an admin shares it)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

Existing secrets become their owner's alone: before this, any workflow could use any secret.
An admin shares again what every workflow should use (``PATCH /api/v1/secrets/{name}``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("secrets") as batch:
        batch.add_column(
            sa.Column("shared", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("secrets") as batch:
        batch.drop_column("shared")
