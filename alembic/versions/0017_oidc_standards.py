"""OpenID provider standards: the ``claims`` request parameter kept with codes and tokens, the
sector identifier URI of pairwise subjects, the encrypted secret of ``client_secret_jwt`` clients,
signed userinfo, the registration access token of dynamically registered clients (RFC 7592),
pushed authorization requests (RFC 9126)

Revision ID: 0017
Revises: 0012
Create Date: 2026-12-07 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLAIMS_TABLES = ("oidc_authorization_code", "oidc_refresh_token", "oidc_access_token")


def upgrade() -> None:
    with op.batch_alter_table("client") as batch:
        batch.add_column(sa.Column("sector_identifier_uri", sa.String(length=2000),
                                   nullable=True))
        batch.add_column(sa.Column("secret_encrypted", sa.Text(), nullable=True))
        batch.add_column(sa.Column("userinfo_signed_response_alg", sa.String(length=5),
                                   nullable=True))
        batch.add_column(sa.Column("registration_token_hash", sa.String(length=64),
                                   nullable=True))
        batch.add_column(sa.Column("dpop_bound_access_tokens", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("require_pushed_authorization_requests", sa.Boolean(),
                                   nullable=False, server_default=sa.false()))
    for table in _CLAIMS_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("claims", sa.JSON(), nullable=True))
    op.create_table(
        "oidc_pushed_request",
        sa.Column("uri_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("pairs", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("uri_hash", name=op.f("pk_oidc_pushed_request")),
    )
    with op.batch_alter_table("oidc_pushed_request") as batch:
        batch.create_index("ix_oidc_pushed_request_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oidc_pushed_request") as batch:
        batch.drop_index("ix_oidc_pushed_request_expires_at")
    op.drop_table("oidc_pushed_request")
    for table in _CLAIMS_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("claims")
    op.execute("UPDATE client SET status = 'disabled' WHERE token_endpoint_auth_method = "
               "'client_secret_jwt'")
    with op.batch_alter_table("client") as batch:
        batch.drop_column("require_pushed_authorization_requests")
        batch.drop_column("dpop_bound_access_tokens")
        batch.drop_column("registration_token_hash")
        batch.drop_column("userinfo_signed_response_alg")
        batch.drop_column("secret_encrypted")
        batch.drop_column("sector_identifier_uri")
