"""feedback trail links: users' « Je donne mon avis » responses as the origins of proposals, measures and workshop
topics

An editor turns verbatims (or an irritant tag) into a proposal or a workshop topic, or links them to a proposal or a
measure: each area below feedback keeps its own links, one row per response and target, naming the response by its
id in feedback_responses. proposal_origins gains the kind « feedback » (response_id); measure_feedback links
measures; workshop_topics are subjects proposed to an organisation's facilitators, with the responses they came
from (workshop_topic_responses) and the workshop that took them up.

Revision ID: 53f5cbad9e63
Revises: 5472a1815e40
Create Date: 2026-12-08 10:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '53f5cbad9e63'
down_revision = '5472a1815e40'
branch_labels = None
depends_on = None

OLD_KINDS = ('idea', 'cluster')
NEW_KINDS = (*OLD_KINDS, 'feedback')
OLD_MATCH = "(idea_id IS NOT NULL AND kind = 'idea') OR (cluster_id IS NOT NULL AND kind = 'cluster')"
NEW_MATCH = OLD_MATCH + " OR (response_id IS NOT NULL AND kind = 'feedback')"


def _kind_check(kinds) -> str:
    values = ", ".join(f"'{k}'" for k in kinds)
    return f"kind IN ({values})"


def upgrade():
    with op.batch_alter_table('proposal_origins', schema=None) as batch_op:
        batch_op.add_column(sa.Column('response_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_proposal_origins_response_id_feedback_responses'),
                                    'feedback_responses', ['response_id'], ['id'], ondelete='CASCADE')
        batch_op.create_index(batch_op.f('ix_proposal_origins_response_id'), ['response_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_proposal_origins_proposal_id_response_id'),
                                          ['proposal_id', 'response_id'])
        batch_op.drop_constraint(batch_op.f('ck_proposal_origins_proposal_origin_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_proposal_origins_proposal_origin_kind'),
                                         _kind_check(NEW_KINDS))
        batch_op.drop_constraint(batch_op.f('ck_proposal_origins_origin_matches_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_proposal_origins_origin_matches_kind'), NEW_MATCH)

    op.create_table('measure_feedback',
    sa.Column('measure_id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('linked_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['linked_by_id'], ['users.id'], name=op.f('fk_measure_feedback_linked_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['measure_id'], ['measures.id'], name=op.f('fk_measure_feedback_measure_id_measures'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['response_id'], ['feedback_responses.id'], name=op.f('fk_measure_feedback_response_id_feedback_responses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('measure_id', 'response_id', name=op.f('pk_measure_feedback'))
    )
    with op.batch_alter_table('measure_feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_measure_feedback_response_id'), ['response_id'], unique=False)

    op.create_table('workshop_topics',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('proposed_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('workshop_id', sa.Integer(), nullable=True),
    sa.Column('taken_up_at', sa.DateTime(), nullable=True),
    sa.Column('taken_up_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('workshop_id IS NULL OR taken_up_at IS NOT NULL', name=op.f('ck_workshop_topics_taken_up_dated')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_workshop_topics_organisation_id_organisations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['users.id'], name=op.f('fk_workshop_topics_proposed_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_workshop_topics_service_id_services'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['taken_up_by_id'], ['users.id'], name=op.f('fk_workshop_topics_taken_up_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workshop_id'], ['workshops.id'], name=op.f('fk_workshop_topics_workshop_id_workshops'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workshop_topics'))
    )
    with op.batch_alter_table('workshop_topics', schema=None) as batch_op:
        batch_op.create_index('ix_workshop_topics_organisation_created', ['organisation_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_workshop_topics_service_id'), ['service_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_workshop_topics_workshop_id'), ['workshop_id'], unique=False)

    op.create_table('workshop_topic_responses',
    sa.Column('topic_id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['response_id'], ['feedback_responses.id'], name=op.f('fk_workshop_topic_responses_response_id_feedback_responses'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['topic_id'], ['workshop_topics.id'], name=op.f('fk_workshop_topic_responses_topic_id_workshop_topics'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('topic_id', 'response_id', name=op.f('pk_workshop_topic_responses'))
    )
    with op.batch_alter_table('workshop_topic_responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workshop_topic_responses_response_id'), ['response_id'], unique=False)


def downgrade():
    with op.batch_alter_table('workshop_topic_responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workshop_topic_responses_response_id'))
    op.drop_table('workshop_topic_responses')
    with op.batch_alter_table('workshop_topics', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workshop_topics_workshop_id'))
        batch_op.drop_index(batch_op.f('ix_workshop_topics_service_id'))
        batch_op.drop_index('ix_workshop_topics_organisation_created')
    op.drop_table('workshop_topics')
    with op.batch_alter_table('measure_feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_measure_feedback_response_id'))
    op.drop_table('measure_feedback')

    # Proposals keep their board origins; what came from users' feedback has no place in the old schema.
    op.execute("DELETE FROM proposal_origins WHERE kind = 'feedback'")
    with op.batch_alter_table('proposal_origins', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_proposal_origins_origin_matches_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_proposal_origins_origin_matches_kind'), OLD_MATCH)
        batch_op.drop_constraint(batch_op.f('ck_proposal_origins_proposal_origin_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_proposal_origins_proposal_origin_kind'),
                                         _kind_check(OLD_KINDS))
        batch_op.drop_constraint(batch_op.f('uq_proposal_origins_proposal_id_response_id'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_proposal_origins_response_id'))
        batch_op.drop_constraint(batch_op.f('fk_proposal_origins_response_id_feedback_responses'), type_='foreignkey')
        batch_op.drop_column('response_id')
