"""sandbox controls: the persona registry, fault rules and fail-first counters, isolated tenants

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sandbox_persona',
    sa.Column('key', sa.String(length=48), nullable=False),
    sa.Column('pin', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_sandbox_persona'))
    )
    op.create_table('sandbox_fault_rule',
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('fault', sa.String(length=200), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=True),
    sa.Column('path', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_fault_rule'))
    )
    op.create_index('ix_sandbox_fault_rule_client_id', 'sandbox_fault_rule', ['client_id'],
                    unique=False)
    op.create_table('sandbox_fault_counter',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('client_id', 'key', name=op.f('pk_sandbox_fault_counter'))
    )
    op.create_table('sandbox_tenant',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('seed', sa.BigInteger(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_tenant'))
    )


def downgrade() -> None:
    for table in ('sandbox_tenant', 'sandbox_fault_counter', 'sandbox_fault_rule',
                  'sandbox_persona'):
        op.drop_table(table)
