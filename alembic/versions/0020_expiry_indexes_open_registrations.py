"""The login sweep's indexes: ``expires_at`` of ``oidc_interaction``, ``oidc_authorization_code``
and ``oidc_session``, which the sweep (one new row in 256) deleted from by scanning each table;
and the end of an open dynamic client registration (``client.expires_at``, RFC 7591 §3.2.1's
``client_secret_expires_at``), after which its place in ``DANCU_OPEN_REGISTRATIONS_TOTAL`` is
free again.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SWEPT = ("oidc_interaction", "oidc_authorization_code", "oidc_session")


def upgrade() -> None:
    for table in _SWEPT:
        op.create_index(f"ix_{table}_expires_at", table, ["expires_at"])
    with op.batch_alter_table("client") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("client") as batch:
        batch.drop_column("expires_at")
    for table in _SWEPT:
        op.drop_index(f"ix_{table}_expires_at", table_name=table)
