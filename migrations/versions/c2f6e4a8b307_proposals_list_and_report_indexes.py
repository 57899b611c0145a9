"""proposals: list-order and count indexes, one open report per person

Revision ID: c2f6e4a8b307
Revises: b9e5d3f7a206
Create Date: 2026-11-23 14:05:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'c2f6e4a8b307'
down_revision = 'b9e5d3f7a206'
branch_labels = None
depends_on = None

OPEN_PROPOSAL = "comment_id IS NULL AND resolved_at IS NULL"
OPEN_COMMENT = "comment_id IS NOT NULL AND resolved_at IS NULL"


def upgrade():
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.create_index('ix_proposals_newest', [sa.text('coalesce(published_at, created_at)'), 'id'],
                              unique=False)
        batch_op.create_index('ix_proposals_state_hidden', ['state', 'hidden_at'], unique=False)
    # Earlier duplicate open reports (same person, same subject) are folded into the first before the
    # unique indexes exist.
    op.execute("DELETE FROM proposal_reports WHERE resolved_at IS NULL AND comment_id IS NULL AND id NOT IN "
               "(SELECT min(id) FROM proposal_reports WHERE resolved_at IS NULL AND comment_id IS NULL "
               "GROUP BY proposal_id, reporter_id)")
    op.execute("DELETE FROM proposal_reports WHERE resolved_at IS NULL AND comment_id IS NOT NULL AND id NOT IN "
               "(SELECT min(id) FROM proposal_reports WHERE resolved_at IS NULL AND comment_id IS NOT NULL "
               "GROUP BY comment_id, reporter_id)")
    with op.batch_alter_table('proposal_reports', schema=None) as batch_op:
        batch_op.create_index('uq_proposal_reports_open_proposal', ['proposal_id', 'reporter_id'], unique=True,
                              sqlite_where=sa.text(OPEN_PROPOSAL), postgresql_where=sa.text(OPEN_PROPOSAL))
        batch_op.create_index('uq_proposal_reports_open_comment', ['comment_id', 'reporter_id'], unique=True,
                              sqlite_where=sa.text(OPEN_COMMENT), postgresql_where=sa.text(OPEN_COMMENT))


def downgrade():
    with op.batch_alter_table('proposal_reports', schema=None) as batch_op:
        batch_op.drop_index('uq_proposal_reports_open_comment')
        batch_op.drop_index('uq_proposal_reports_open_proposal')
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.drop_index('ix_proposals_state_hidden')
        batch_op.drop_index('ix_proposals_newest')
