"""DPoP (RFC 9449): a public client's refresh token bound to its key (§5), an authorization code
bound to one (§10), clients that must send the server's nonce (§8), and the client's security
profile (FAPI 2.0: its assertion rules). Proof ``jti`` values
share ``used_client_assertion``.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oidc_refresh_token") as batch:
        batch.add_column(sa.Column("jkt", sa.String(length=64), nullable=True))
    with op.batch_alter_table("oidc_authorization_code") as batch:
        batch.add_column(sa.Column("dpop_jkt", sa.String(length=64), nullable=True))
    with op.batch_alter_table("client") as batch:
        batch.add_column(sa.Column("require_dpop_nonce", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("security_profile", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("client") as batch:
        batch.drop_column("security_profile")
        batch.drop_column("require_dpop_nonce")
    with op.batch_alter_table("oidc_authorization_code") as batch:
        batch.drop_column("dpop_jkt")
    with op.batch_alter_table("oidc_refresh_token") as batch:
        batch.drop_column("jkt")
