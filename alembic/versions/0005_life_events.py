"""life events: the ordered event feed, idempotency records, webhook subscriptions with their
outbox and attempts, the persisted sandbox clock; a client's data basis; the citizen status
``replaced`` (PIN re-established)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUS_BEFORE = "status = 'alive' OR status = 'deceased' OR status = 'missing'"
_STATUS_AFTER = _STATUS_BEFORE + " OR status = 'replaced'"


def upgrade() -> None:
    _feed()
    _subscriptions()
    op.create_table('sandbox_clock',
    sa.Column('id', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('offset_us', sa.BigInteger(), nullable=False),
    sa.Column('frozen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_clock'))
    )
    op.add_column('client', sa.Column('data_basis', sa.String(length=16),
                                      server_default='statutory_task', nullable=False))
    _citizen_status(_STATUS_BEFORE, _STATUS_AFTER)


def _feed() -> None:
    op.create_table('life_event',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('type', sa.String(length=48), nullable=False),
    sa.Column('pin', sa.String(length=12), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('cause_seq', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_life_event'))
    )
    op.create_index('ix_life_event_pin', 'life_event', ['pin'], unique=False)
    head = op.create_table('life_event_head',
    sa.Column('id', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_life_event_head'))
    )
    op.bulk_insert(head, [{'id': 1, 'seq': 0}])
    op.create_table('idempotency_record',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.SmallInteger(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('client_id', 'key', name=op.f('pk_idempotency_record'))
    )


def _subscriptions() -> None:
    op.create_table('event_subscription',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('event_types', sa.JSON(), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('active', 'paused', 'deleted')", name=op.f('ck_event_subscription_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_subscription'))
    )
    op.create_index('ix_event_subscription_client_id', 'event_subscription', ['client_id'], unique=False)
    op.create_table('event_delivery',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('subscription_id', sa.String(length=40), nullable=False),
    sa.Column('event_seq', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=9), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_status_code', sa.SmallInteger(), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name=op.f('ck_event_delivery_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_delivery'))
    )
    op.create_index('ix_event_delivery_status_next_attempt_at', 'event_delivery', ['status', 'next_attempt_at'], unique=False)
    op.create_index('ix_event_delivery_subscription_id_event_seq', 'event_delivery', ['subscription_id', 'event_seq'], unique=True)
    op.create_table('event_delivery_attempt',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('delivery_id', sa.BigInteger(), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status_code', sa.SmallInteger(), nullable=True),
    sa.Column('error', sa.String(length=200), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_delivery_attempt'))
    )
    op.create_index('ix_event_delivery_attempt_delivery_id', 'event_delivery_attempt', ['delivery_id'], unique=False)


def _citizen_status(before: str, after: str) -> None:
    """Swap the condition of ``ck_citizen_status``.

    PostgreSQL drops and re-adds the constraint. SQLite cannot alter a constraint, and rebuilding
    the (possibly very large) citizen table is impossible inside this transaction while cards
    reference it; SQLite documents editing the stored table definition for changes that leave
    every stored row valid (ALTER TABLE, "Making Other Kinds Of Table Schema Changes"), which a
    widened or (when no row uses the extra value) narrowed list of statuses is.
    """
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        op.drop_constraint(op.f('ck_citizen_status'), 'citizen', type_='check')
        op.create_check_constraint(op.f('ck_citizen_status'), 'citizen', sa.text(after))
        return
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'citizen'").scalar_one()
    if before not in sql:
        raise RuntimeError("unexpected definition of ck_citizen_status")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'citizen'",
        (sql.replace(before, after, 1),))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def downgrade() -> None:
    replaced = op.get_bind().exec_driver_sql(
        "SELECT COUNT(*) FROM citizen WHERE status = 'replaced'").scalar_one()
    if replaced:
        raise RuntimeError("citizens with a re-established PIN exist: cannot downgrade")
    _citizen_status(_STATUS_AFTER, _STATUS_BEFORE)
    with op.batch_alter_table('client') as batch_op:
        batch_op.drop_column('data_basis')
    for table in ('sandbox_clock', 'event_delivery_attempt', 'event_delivery',
                  'event_subscription', 'idempotency_record', 'life_event_head', 'life_event'):
        op.drop_table(table)
