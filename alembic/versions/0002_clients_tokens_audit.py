"""clients, signing keys, rate windows and the hash-chained audit trail (data-sharing API)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 07:49:04.063585
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    head = op.create_table('audit_chain_head',
    sa.Column('id', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_head'))
    )
    # The chain starts empty: record 1 links to the genesis hash (app.services.sharing.audit.GENESIS_HASH).
    op.bulk_insert(head, [{'id': 1, 'seq': 0, 'hash': '0' * 64}])
    op.create_table('audit_record',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('pin', sa.String(length=12), nullable=True),
    sa.Column('fields', sa.String(length=500), nullable=False),
    sa.Column('result', sa.String(length=32), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_record'))
    )
    with op.batch_alter_table('audit_record', schema=None) as batch_op:
        batch_op.create_index('ix_audit_record_client_id_seq', ['client_id', 'seq'], unique=False)

    op.create_table('client',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('secret_hash', sa.String(length=200), nullable=True),
    sa.Column('jwks', sa.JSON(), nullable=True),
    sa.Column('token_endpoint_auth_method', sa.String(length=32), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('purposes', sa.JSON(), nullable=False),
    sa.Column('legal_basis', sa.Text(), nullable=True),
    sa.Column('redirect_uris', sa.JSON(), nullable=False),
    sa.Column('grant_types', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('sandbox', sa.Boolean(), nullable=False),
    sa.Column('signing_alg', sa.String(length=5), nullable=False),
    sa.Column('rate_limit', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('secret_rotated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("signing_alg IN ('ES256', 'RS256')", name=op.f('ck_client_signing_alg')),
    sa.CheckConstraint("status IN ('active', 'disabled')", name=op.f('ck_client_status')),
    sa.CheckConstraint("token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post', 'private_key_jwt')", name=op.f('ck_client_auth_method')),
    sa.CheckConstraint('rate_limit > 0', name=op.f('ck_client_rate_limit')),
    sa.PrimaryKeyConstraint('client_id', name=op.f('pk_client'))
    )
    op.create_table('rate_window',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('window_start', sa.BigInteger(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('client_id', 'window_start', name=op.f('pk_rate_window'))
    )
    op.create_table('signing_key',
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('alg', sa.String(length=8), nullable=False),
    sa.Column('private_pem', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('not_after', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("alg IN ('ES256', 'RS256')", name=op.f('ck_signing_key_alg')),
    sa.PrimaryKeyConstraint('kid', name=op.f('pk_signing_key'))
    )
    with op.batch_alter_table('signing_key', schema=None) as batch_op:
        batch_op.create_index('ix_signing_key_alg_created_at', ['alg', 'created_at'], unique=False)

    op.create_table('used_client_assertion',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('jti', sa.String(length=200), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('client_id', 'jti', name=op.f('pk_used_client_assertion'))
    )
    with op.batch_alter_table('used_client_assertion', schema=None) as batch_op:
        batch_op.create_index('ix_used_client_assertion_expires_at', ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('used_client_assertion', schema=None) as batch_op:
        batch_op.drop_index('ix_used_client_assertion_expires_at')

    op.drop_table('used_client_assertion')
    with op.batch_alter_table('signing_key', schema=None) as batch_op:
        batch_op.drop_index('ix_signing_key_alg_created_at')

    op.drop_table('signing_key')
    op.drop_table('rate_window')
    op.drop_table('client')
    with op.batch_alter_table('audit_record', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_record_client_id_seq')

    op.drop_table('audit_record')
    op.drop_table('audit_chain_head')
