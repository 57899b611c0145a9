"""ideas.sort_key compares bytewise on PostgreSQL (COLLATE "C"), as it already does on SQLite

Fractional sort keys use ASCII order ("0-9A-Za-z"); a linguistic collation (en_US.UTF-8, fr_FR.UTF-8)
would sort "a" before "B" and break the order of ideas in a column.

Revision ID: f7c3a9b1e504
Revises: e6b2f1a3d402
Create Date: 2026-11-23 10:40:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f7c3a9b1e504'
down_revision = 'e6b2f1a3d402'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite compares text with BINARY already
    op.alter_column('ideas', 'sort_key', existing_type=sa.String(length=64), existing_nullable=False,
                    type_=sa.String(length=64, collation="C"))


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column('ideas', 'sort_key', existing_type=sa.String(length=64, collation="C"), existing_nullable=False,
                    type_=sa.String(length=64))
