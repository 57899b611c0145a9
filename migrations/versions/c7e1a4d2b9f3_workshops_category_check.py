"""workshops: the team confirms declared categories (at sign-up review or at check-in)

A workshop says whether, and when, the team confirms the category a person declares (workshops.category_check);
each quota category says whether it is checked (workshop_categories.requires_check). A registration records when
and by whom its category was confirmed, and a seat may wait for that review (status in_review, holding the seat).
Existing workshops check nothing: as before.

Revision ID: c7e1a4d2b9f3
Revises: a3e5c7d9f102
Create Date: 2026-12-09 10:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c7e1a4d2b9f3'
down_revision = 'a3e5c7d9f102'
branch_labels = None
depends_on = None

OLD_STATUSES = ('confirmed', 'offered', 'waitlisted', 'cancelled')
NEW_STATUSES = (*OLD_STATUSES, 'in_review')


def _status_check(statuses) -> str:
    values = ", ".join(f"'{s}'" for s in statuses)
    return f"status IN ({values})"


def upgrade():
    with op.batch_alter_table('workshops', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category_check', sa.Enum('none', 'at_review', 'at_check_in',
                                                                name='workshop_category_check', native_enum=False,
                                                                create_constraint=True, length=20),
                                      server_default='none', nullable=False))
    with op.batch_alter_table('workshop_categories', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requires_check', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category_confirmed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('category_confirmed_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_registrations_category_confirmed_by_id_users'), 'users',
                                    ['category_confirmed_by_id'], ['id'], ondelete='SET NULL')
        batch_op.drop_constraint(batch_op.f('ck_registrations_registration_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_registrations_registration_status'),
                                         _status_check(NEW_STATUSES))
        batch_op.create_check_constraint(batch_op.f('ck_registrations_category_confirmation_dated'),
                                         'category_confirmed_by_id IS NULL OR category_confirmed_at IS NOT NULL')
        batch_op.create_check_constraint(batch_op.f('ck_registrations_in_review_unconfirmed'),
                                         "status <> 'in_review' OR category_confirmed_at IS NULL")


def downgrade():
    # Seats in review become confirmed seats: they are held, and the old schema knows no review.
    op.execute("UPDATE registrations SET status = 'confirmed', confirmed_at = created_at WHERE status = 'in_review'")
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_registrations_in_review_unconfirmed'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_registrations_category_confirmation_dated'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_registrations_registration_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_registrations_registration_status'),
                                         _status_check(OLD_STATUSES))
        batch_op.drop_constraint(batch_op.f('fk_registrations_category_confirmed_by_id_users'), type_='foreignkey')
        batch_op.drop_column('category_confirmed_by_id')
        batch_op.drop_column('category_confirmed_at')
    with op.batch_alter_table('workshop_categories', schema=None) as batch_op:
        batch_op.drop_column('requires_check')
    with op.batch_alter_table('workshops', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_workshops_workshop_category_check'), type_='check')
        batch_op.drop_column('category_check')
