"""Letter links, and working documents added while a letter is processed.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "letter_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("linked_letter_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_letter_links_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["letter_id"], ["letters.id"], name=op.f("fk_letter_links_letter_id_letters")
        ),
        sa.ForeignKeyConstraint(
            ["linked_letter_id"],
            ["letters.id"],
            name=op.f("fk_letter_links_linked_letter_id_letters"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_letter_links_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_links")),
        sa.UniqueConstraint(
            "letter_id", "linked_letter_id", name=op.f("uq_letter_links_letter_id_linked_letter_id")
        ),
    )
    with op.batch_alter_table("letter_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_letter_links_letter_id"), ["letter_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_letter_links_linked_letter_id"), ["linked_letter_id"], unique=False
        )
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=10), nullable=False, server_default="received")
        )


def downgrade():
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_column("kind")
    with op.batch_alter_table("letter_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_letter_links_linked_letter_id"))
        batch_op.drop_index(batch_op.f("ix_letter_links_letter_id"))
    op.drop_table("letter_links")
