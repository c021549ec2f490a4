"""client policy per client: PKCE requirement, application type, post-logout redirect URIs, public
clients and ``client_secret_jwt``; authorization codes without a PKCE challenge

A client registered for OpenID certification may be exempted from PKCE, so a code may carry no
challenge. Existing clients keep their behaviour: PKCE required, ``web``, their redirect URIs as
post-logout URIs (an empty list means exactly that).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_METHODS_BEFORE = "('client_secret_basic', 'client_secret_post', 'private_key_jwt')"
_METHODS_AFTER = ("('client_secret_basic', 'client_secret_post', 'client_secret_jwt', "
                  "'private_key_jwt', 'none')")


def upgrade() -> None:
    with op.batch_alter_table("client") as batch:
        batch.add_column(sa.Column("require_pkce", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
        batch.add_column(sa.Column("application_type", sa.String(length=8), nullable=False,
                                   server_default="web"))
        batch.add_column(sa.Column("post_logout_redirect_uris", sa.JSON(), nullable=False,
                                   server_default="[]"))
        batch.drop_constraint(op.f("ck_client_auth_method"), type_="check")
        batch.create_check_constraint(
            op.f("ck_client_auth_method"), f"token_endpoint_auth_method IN {_METHODS_AFTER}")
        batch.create_check_constraint(
            op.f("ck_client_application_type"), "application_type IN ('web', 'native')")
    with op.batch_alter_table("oidc_authorization_code") as batch:
        batch.alter_column("code_challenge", existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM oidc_authorization_code WHERE code_challenge IS NULL")
    with op.batch_alter_table("oidc_authorization_code") as batch:
        batch.alter_column("code_challenge", existing_type=sa.String(length=64), nullable=False)
    op.execute("UPDATE client SET status = 'disabled', token_endpoint_auth_method = "
               "'client_secret_basic' WHERE token_endpoint_auth_method IN "
               "('none', 'client_secret_jwt')")
    with op.batch_alter_table("client") as batch:
        batch.drop_constraint(op.f("ck_client_application_type"), type_="check")
        batch.drop_constraint(op.f("ck_client_auth_method"), type_="check")
        batch.create_check_constraint(
            op.f("ck_client_auth_method"), f"token_endpoint_auth_method IN {_METHODS_BEFORE}")
        batch.drop_column("post_logout_redirect_uris")
        batch.drop_column("application_type")
        batch.drop_column("require_pkce")
