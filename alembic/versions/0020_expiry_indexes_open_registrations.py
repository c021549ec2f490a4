"""The login sweep's indexes: ``expires_at`` of ``oidc_interaction``, ``oidc_authorization_code``
and ``oidc_session``, which the sweep (one new row in 256) deleted from by scanning each table.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 00:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SWEPT = ("oidc_interaction", "oidc_authorization_code", "oidc_session")


def upgrade() -> None:
    for table in _SWEPT:
        op.create_index(f"ix_{table}_expires_at", table, ["expires_at"])


def downgrade() -> None:
    for table in _SWEPT:
        op.drop_index(f"ix_{table}_expires_at", table_name=table)
