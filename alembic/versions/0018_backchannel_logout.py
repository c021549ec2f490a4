"""OpenID Connect Back-Channel Logout 1.0: a client's ``backchannel_logout_uri`` and
``backchannel_logout_session_required``, and the outcome of each logout-token delivery

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("client") as batch:
        batch.add_column(sa.Column("backchannel_logout_uri", sa.String(length=2000),
                                   nullable=True))
        batch.add_column(sa.Column("backchannel_logout_session_required", sa.Boolean(),
                                   nullable=False, server_default=sa.false()))
    op.create_table(
        "oidc_backchannel_delivery",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=120), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_oidc_backchannel_delivery_client_id", "oidc_backchannel_delivery",
                    ["client_id", "attempted_at"])


def downgrade() -> None:
    op.drop_index("ix_oidc_backchannel_delivery_client_id", "oidc_backchannel_delivery")
    op.drop_table("oidc_backchannel_delivery")
    with op.batch_alter_table("client") as batch:
        batch.drop_column("backchannel_logout_session_required")
        batch.drop_column("backchannel_logout_uri")
