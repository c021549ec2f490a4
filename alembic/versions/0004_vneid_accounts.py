"""VNeID accounts (event log, SMS inbox, one-time codes), OpenID provider state and consent

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 08:05:19.223583
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('consent',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('pin', sa.String(length=12), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('method', sa.String(length=24), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_by', sa.String(length=16), nullable=True),
    sa.CheckConstraint("status IN ('granted', 'withdrawn', 'superseded')", name=op.f('ck_consent_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent'))
    )
    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.create_index('ix_consent_pin_client_id_purpose', ['pin', 'client_id', 'purpose'], unique=False)

    op.create_table('oidc_access_token',
    sa.Column('jti', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=True),
    sa.Column('code_hash', sa.String(length=64), nullable=True),
    sa.Column('family_id', sa.String(length=64), nullable=True),
    sa.Column('session_id', sa.String(length=64), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('jti', name=op.f('pk_oidc_access_token'))
    )
    with op.batch_alter_table('oidc_access_token', schema=None) as batch_op:
        batch_op.create_index('ix_oidc_access_token_account_id_client_id', ['account_id', 'client_id'], unique=False)
        batch_op.create_index('ix_oidc_access_token_code_hash', ['code_hash'], unique=False)
        batch_op.create_index('ix_oidc_access_token_family_id', ['family_id'], unique=False)

    op.create_table('oidc_authorization_code',
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('redirect_uri', sa.String(length=2000), nullable=False),
    sa.Column('scope', sa.JSON(), nullable=False),
    sa.Column('code_challenge', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('auth_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acr', sa.String(length=8), nullable=False),
    sa.Column('amr', sa.JSON(), nullable=False),
    sa.Column('nonce', sa.String(length=512), nullable=True),
    sa.Column('session_id', sa.String(length=64), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('consumed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('code_hash', name=op.f('pk_oidc_authorization_code'))
    )
    op.create_table('oidc_interaction',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('browser_hash', sa.String(length=64), nullable=False),
    sa.Column('csrf_hash', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('stage', sa.String(length=8), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=True),
    sa.Column('session_id', sa.String(length=64), nullable=True),
    sa.Column('qr_handle_hash', sa.String(length=64), nullable=True),
    sa.Column('qr_status', sa.String(length=8), nullable=True),
    sa.Column('qr_account_id', sa.BigInteger(), nullable=True),
    sa.Column('qr_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oidc_interaction'))
    )
    with op.batch_alter_table('oidc_interaction', schema=None) as batch_op:
        batch_op.create_index('ix_oidc_interaction_qr_handle_hash', ['qr_handle_hash'], unique=True)

    op.create_table('oidc_refresh_token',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('family_id', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('scope', sa.JSON(), nullable=False),
    sa.Column('auth_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acr', sa.String(length=8), nullable=False),
    sa.Column('amr', sa.JSON(), nullable=False),
    sa.Column('session_id', sa.String(length=64), nullable=True),
    sa.Column('code_hash', sa.String(length=64), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('family_expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rotated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_oidc_refresh_token'))
    )
    with op.batch_alter_table('oidc_refresh_token', schema=None) as batch_op:
        batch_op.create_index('ix_oidc_refresh_token_account_id_client_id', ['account_id', 'client_id'], unique=False)
        batch_op.create_index('ix_oidc_refresh_token_code_hash', ['code_hash'], unique=False)
        batch_op.create_index('ix_oidc_refresh_token_family_id', ['family_id'], unique=False)

    op.create_table('oidc_session',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('cookie_hash', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('auth_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('amr', sa.JSON(), nullable=False),
    sa.Column('level', sa.SmallInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oidc_session'))
    )
    with op.batch_alter_table('oidc_session', schema=None) as batch_op:
        batch_op.create_index('ix_oidc_session_account_id', ['account_id'], unique=False)
        batch_op.create_index('ix_oidc_session_cookie_hash', ['cookie_hash'], unique=True)

    op.create_table('vneid_account',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('pin', sa.String(length=12), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('level', sa.SmallInteger(), nullable=False),
    sa.Column('lock_reasons', sa.JSON(), nullable=False),
    sa.Column('locked_by', sa.String(length=16), nullable=True),
    sa.Column('locked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('unlock_due', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_reason', sa.String(length=24), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('phone', sa.String(length=15), nullable=False),
    sa.Column('email', sa.String(length=80), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('passcode_hash', sa.String(length=200), nullable=True),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('device_name', sa.String(length=80), nullable=True),
    sa.Column('device_token_hash', sa.String(length=64), nullable=True),
    sa.Column('device_bound_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('login_locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('persona', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('pending', 'active', 'locked', 'closed')", name=op.f('ck_vneid_account_state')),
    sa.CheckConstraint('level IN (1, 2)', name=op.f('ck_vneid_account_level')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vneid_account'))
    )
    with op.batch_alter_table('vneid_account', schema=None) as batch_op:
        batch_op.create_index('ix_vneid_account_device_token_hash', ['device_token_hash'], unique=True)
        batch_op.create_index('ix_vneid_account_persona', ['persona'], unique=True)
        batch_op.create_index('ix_vneid_account_pin', ['pin'], unique=True)

    op.create_table('vneid_account_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('actor', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('level', sa.SmallInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['vneid_account.id'], name=op.f('fk_vneid_account_event_account_id_vneid_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vneid_account_event'))
    )
    with op.batch_alter_table('vneid_account_event', schema=None) as batch_op:
        batch_op.create_index('ix_vneid_account_event_account_id_id', ['account_id', 'id'], unique=False)

    op.create_table('vneid_otp',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('interaction_id', sa.String(length=64), nullable=True),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('consumed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['vneid_account.id'], name=op.f('fk_vneid_otp_account_id_vneid_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vneid_otp'))
    )
    with op.batch_alter_table('vneid_otp', schema=None) as batch_op:
        batch_op.create_index('ix_vneid_otp_interaction_id', ['interaction_id'], unique=False)

    op.create_table('vneid_sms',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('phone', sa.String(length=15), nullable=False),
    sa.Column('body', sa.String(length=320), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['vneid_account.id'], name=op.f('fk_vneid_sms_account_id_vneid_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vneid_sms'))
    )
    with op.batch_alter_table('vneid_sms', schema=None) as batch_op:
        batch_op.create_index('ix_vneid_sms_account_id_id', ['account_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('vneid_sms', schema=None) as batch_op:
        batch_op.drop_index('ix_vneid_sms_account_id_id')

    op.drop_table('vneid_sms')
    with op.batch_alter_table('vneid_otp', schema=None) as batch_op:
        batch_op.drop_index('ix_vneid_otp_interaction_id')

    op.drop_table('vneid_otp')
    with op.batch_alter_table('vneid_account_event', schema=None) as batch_op:
        batch_op.drop_index('ix_vneid_account_event_account_id_id')

    op.drop_table('vneid_account_event')
    with op.batch_alter_table('vneid_account', schema=None) as batch_op:
        batch_op.drop_index('ix_vneid_account_pin')
        batch_op.drop_index('ix_vneid_account_persona')
        batch_op.drop_index('ix_vneid_account_device_token_hash')

    op.drop_table('vneid_account')
    with op.batch_alter_table('oidc_session', schema=None) as batch_op:
        batch_op.drop_index('ix_oidc_session_cookie_hash')
        batch_op.drop_index('ix_oidc_session_account_id')

    op.drop_table('oidc_session')
    with op.batch_alter_table('oidc_refresh_token', schema=None) as batch_op:
        batch_op.drop_index('ix_oidc_refresh_token_family_id')
        batch_op.drop_index('ix_oidc_refresh_token_code_hash')
        batch_op.drop_index('ix_oidc_refresh_token_account_id_client_id')

    op.drop_table('oidc_refresh_token')
    with op.batch_alter_table('oidc_interaction', schema=None) as batch_op:
        batch_op.drop_index('ix_oidc_interaction_qr_handle_hash')

    op.drop_table('oidc_interaction')
    op.drop_table('oidc_authorization_code')
    with op.batch_alter_table('oidc_access_token', schema=None) as batch_op:
        batch_op.drop_index('ix_oidc_access_token_family_id')
        batch_op.drop_index('ix_oidc_access_token_code_hash')
        batch_op.drop_index('ix_oidc_access_token_account_id_client_id')

    op.drop_table('oidc_access_token')
    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_pin_client_id_purpose')

    op.drop_table('consent')