"""board_events: one seq per change; its events are ordered by position; boards know each audience's last change

A change (a post, a vote, a phase change...) moves the board's seq by one, whatever number of events it has
for its audiences; each connection receives the change once. Events of one change share the seq and are told
apart by their position in it. Existing events were each a change of their own: position 0. A change sent to an
audience names the previous one that audience was sent (boards.facilitators_seq, participants_seq).

Revision ID: a3e5c7d9f102
Revises: b9f4d2a6c810
Create Date: 2026-12-07 12:10:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a3e5c7d9f102'
down_revision = 'b9f4d2a6c810'
branch_labels = None
depends_on = None


def upgrade():
    # The last change each audience was sent: until now, every change (its seq).
    with op.batch_alter_table('boards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('facilitators_seq', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('participants_seq', sa.Integer(), nullable=False, server_default='0'))
    op.execute("UPDATE boards SET facilitators_seq = seq, participants_seq = seq")
    with op.batch_alter_table('board_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position', sa.SmallInteger(), nullable=False, server_default='0'))
        batch_op.drop_constraint('uq_board_events_board_id_seq', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_board_events_board_id_seq_position'),
                                          ['board_id', 'seq', 'position'])
        batch_op.create_check_constraint(batch_op.f('ck_board_events_position_range'),
                                         'position >= 0')


def downgrade():
    with op.batch_alter_table('board_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_board_events_position_range'), type_='check')
        batch_op.drop_constraint(batch_op.f('uq_board_events_board_id_seq_position'), type_='unique')
        batch_op.create_unique_constraint('uq_board_events_board_id_seq', ['board_id', 'seq'])
        batch_op.drop_column('position')
    with op.batch_alter_table('boards', schema=None) as batch_op:
        batch_op.drop_column('participants_seq')
        batch_op.drop_column('facilitators_seq')
