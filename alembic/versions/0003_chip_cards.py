"""chip identity cards, their append-only history, persisted RSA keys of the test PKI

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 08:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('card',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('pin', sa.String(length=12), nullable=False),
    sa.Column('sequence', sa.SmallInteger(), nullable=False),
    sa.Column('generation', sa.String(length=16), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=False),
    sa.Column('expiry_date', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('status_reason', sa.String(length=32), nullable=True),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('document_signer', sa.String(length=32), nullable=False),
    sa.Column('chip_key_ref', sa.String(length=24), nullable=False),
    sa.Column('persona', sa.String(length=24), nullable=True),
    sa.CheckConstraint("generation IN ('cccd_2021', 'can_cuoc_2024')", name=op.f('ck_card_generation')),
    sa.CheckConstraint("status IN ('active', 'lost', 'revoked', 'replaced', 'held')", name=op.f('ck_card_status')),
    sa.ForeignKeyConstraint(['pin'], ['citizen.pin'], name=op.f('fk_card_pin_citizen')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_card'))
    )
    with op.batch_alter_table('card', schema=None) as batch_op:
        batch_op.create_index('ix_card_persona', ['persona'], unique=True)
        batch_op.create_index('ix_card_pin_sequence', ['pin', 'sequence'], unique=True)

    op.create_table('card_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('card_id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('actor', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['card_id'], ['card.id'], name=op.f('fk_card_event_card_id_card')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_card_event'))
    )
    with op.batch_alter_table('card_event', schema=None) as batch_op:
        batch_op.create_index('ix_card_event_card_id_id', ['card_id', 'id'], unique=False)

    op.create_table('pki_key',
    sa.Column('label', sa.String(length=40), nullable=False),
    sa.Column('key_type', sa.String(length=8), nullable=False),
    sa.Column('private_pem', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('label', name=op.f('pk_pki_key'))
    )


def downgrade() -> None:
    op.drop_table('pki_key')
    with op.batch_alter_table('card_event', schema=None) as batch_op:
        batch_op.drop_index('ix_card_event_card_id_id')

    op.drop_table('card_event')
    with op.batch_alter_table('card', schema=None) as batch_op:
        batch_op.drop_index('ix_card_pin_sequence')
        batch_op.drop_index('ix_card_persona')

    op.drop_table('card')
