"""web console sign-ins: a server-side session per sign-in (expiry, sign-out), instead of a fixed
cookie derived from the admin token

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('console_session',
    sa.Column('cookie_hash', sa.String(length=64), nullable=False),
    sa.Column('token_mark', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('cookie_hash', name=op.f('pk_console_session'))
    )


def downgrade() -> None:
    op.drop_table('console_session')
