"""judicial records: criminal-record certificate requests and the convictions behind them

Revision ID: 0015
Revises: 0012
Create Date: 2026-12-07 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PIN = sa.String(length=12).with_variant(sa.String(length=12, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "judicial_record_request",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("pin", PIN, nullable=False),
        sa.Column("certificate_type", sa.SmallInteger(), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("copies", sa.SmallInteger(), nullable=False),
        sa.Column("fee_vnd", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("declaration", sa.JSON(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checking_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("rejection_code", sa.String(length=32), nullable=True),
        sa.Column("certificate_jws", sa.Text(), nullable=True),
        sa.CheckConstraint("certificate_type IN (1, 2)",
                           name=op.f("ck_judicial_record_request_certificate_type")),
        sa.CheckConstraint("outcome IN ('issue', 'reject')",
                           name=op.f("ck_judicial_record_request_outcome")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_judicial_record_request")),
    )
    with op.batch_alter_table("judicial_record_request", schema=None) as batch_op:
        batch_op.create_index("ix_judicial_record_request_pin", ["pin"], unique=False)
    op.create_table(
        "judicial_conviction",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("pin", PIN, nullable=False),
        sa.Column("judgment_number", sa.String(length=40), nullable=False),
        sa.Column("judgment_date", sa.Date(), nullable=False),
        sa.Column("court", sa.String(length=200), nullable=False),
        sa.Column("offence", sa.String(length=200), nullable=False),
        sa.Column("penal_code_article", sa.String(length=80), nullable=False),
        sa.Column("principal_penalty", sa.String(length=200), nullable=False),
        sa.Column("additional_penalty", sa.String(length=200), nullable=True),
        sa.Column("sentence_completed_on", sa.Date(), nullable=True),
        sa.Column("expunged_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_judicial_conviction")),
    )
    with op.batch_alter_table("judicial_conviction", schema=None) as batch_op:
        batch_op.create_index("ix_judicial_conviction_pin", ["pin"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("judicial_conviction", schema=None) as batch_op:
        batch_op.drop_index("ix_judicial_conviction_pin")
    op.drop_table("judicial_conviction")
    with op.batch_alter_table("judicial_record_request", schema=None) as batch_op:
        batch_op.drop_index("ix_judicial_record_request_pin")
    op.drop_table("judicial_record_request")
