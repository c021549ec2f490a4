"""integrated documents: the stored changes to the documents computed from the population

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-07 10:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("health_insurance", "driving_licence", "vehicle_registration", "tax_registration",
         "social_insurance", "vaccination")


def upgrade() -> None:
    op.create_table(
        "document_override",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("pin", sa.String(length=12).with_variant(sa.String(length=12, collation="C"),
                                                         "postgresql"), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("number", sa.String(length=24), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("points_deducted", sa.SmallInteger(), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(" OR ".join(f"kind = '{kind}'" for kind in KINDS),
                           name=op.f("ck_document_override_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_override")),
    )
    with op.batch_alter_table("document_override", schema=None) as batch_op:
        batch_op.create_index("ix_document_override_pin", ["pin"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("document_override", schema=None) as batch_op:
        batch_op.drop_index("ix_document_override_pin")
    op.drop_table("document_override")
