"""mail: outbox rows may be rendered at delivery (the one-statement sign-up queues them unrendered)

Revision ID: b9f4d2a6c810
Revises: a8e3c5d7f9b1
Create Date: 2026-11-24 04:40:00

Subject and bodies become optional, ``context`` (JSON of ids) carries what rendering needs, and a check
constraint requires one or the other.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b9f4d2a6c810'
down_revision = 'a8e3c5d7f9b1'
branch_labels = None
depends_on = None

RENDERED_OR_RENDERABLE = ("(subject IS NOT NULL AND body_text IS NOT NULL AND body_html IS NOT NULL) "
                          "OR context IS NOT NULL")


def upgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('context', sa.Text(), nullable=True))
        batch_op.alter_column('subject', existing_type=sa.String(length=255), nullable=True)
        batch_op.alter_column('body_text', existing_type=sa.Text(), nullable=True)
        batch_op.alter_column('body_html', existing_type=sa.Text(), nullable=True)
        batch_op.create_check_constraint('rendered_or_renderable', RENDERED_OR_RENDERABLE)


def downgrade():
    # Rows still waiting to be rendered cannot be kept once subject and bodies are required again.
    op.execute("DELETE FROM outbox_messages WHERE subject IS NULL")
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_constraint('rendered_or_renderable', type_='check')
        batch_op.alter_column('body_html', existing_type=sa.Text(), nullable=False)
        batch_op.alter_column('body_text', existing_type=sa.Text(), nullable=False)
        batch_op.alter_column('subject', existing_type=sa.String(length=255), nullable=False)
        batch_op.drop_column('context')
