"""deployment secret: the random secret made on first start when ``DANCU_SECRET_KEY`` is unset

Every secret of the deployment (token-signing keys, the pairwise-subject key, persona device
tokens, tenant keys) is derived from it, so none can be rebuilt from the public seed
(``app.services.kit.secret``). One row, ``id`` 1.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deployment_secret",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_deployment_secret_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_secret")),
    )


def downgrade() -> None:
    op.drop_table("deployment_secret")
