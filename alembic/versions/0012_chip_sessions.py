"""chip sessions: a reader's APDU conversation with a card's chip, its emulator state by session id

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chip_session",
        sa.Column("id", sa.String(length=43), nullable=False),
        sa.Column("card_id", sa.BigInteger(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["card.id"], ondelete="CASCADE",
                                name=op.f("fk_chip_session_card_id_card")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chip_session")),
    )
    with op.batch_alter_table("chip_session", schema=None) as batch_op:
        batch_op.create_index("ix_chip_session_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("chip_session", schema=None) as batch_op:
        batch_op.drop_index("ix_chip_session_expires_at")
    op.drop_table("chip_session")
