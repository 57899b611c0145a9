"""reports: the version of the report data, moved by triggers when a table the reports read changes

Revision ID: a8e3c5d7f9b1
Revises: d4a7c1e9f206
Create Date: 2026-11-23 23:20:00

The report pages keep their figures and rendered fragments per version of the data (app/reports/cache.py);
these triggers (app/reports/versions.py, copied here as they are today) move ``data_versions['reports']`` in the
transaction of every change of a watched table. On PostgreSQL they are deferred constraint triggers: the version row
is updated at commit, once per transaction.
"""
import uuid

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a8e3c5d7f9b1'
down_revision = 'd4a7c1e9f206'
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS reports_changed_proposals_ai AFTER INSERT ON proposals BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_proposals_ad AFTER DELETE ON proposals BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_proposals_au AFTER UPDATE OF state, hidden_at, organisation_id, published_at, life_event_id, title, updated_at, merged_into_id ON proposals BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_answers_ai AFTER INSERT ON answers BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_answers_ad AFTER DELETE ON answers BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_answers_au AFTER UPDATE ON answers BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_answer_settings_ai AFTER INSERT ON answer_settings BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_answer_settings_ad AFTER DELETE ON answer_settings BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_answer_settings_au AFTER UPDATE ON answer_settings BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_measures_ai AFTER INSERT ON measures BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_measures_ad AFTER DELETE ON measures BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_measures_au AFTER UPDATE ON measures BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_measure_proposals_ai AFTER INSERT ON measure_proposals BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_measure_proposals_ad AFTER DELETE ON measure_proposals BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_measure_proposals_au AFTER UPDATE ON measure_proposals BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_measure_milestones_ai AFTER INSERT ON measure_milestones BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_measure_milestones_ad AFTER DELETE ON measure_milestones BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_measure_milestones_au AFTER UPDATE ON measure_milestones BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_consultations_ai AFTER INSERT ON consultations BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_consultations_ad AFTER DELETE ON consultations BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_consultations_au AFTER UPDATE OF state, closed_at ON consultations BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_consultation_proposals_ai AFTER INSERT ON consultation_proposals BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_consultation_proposals_ad AFTER DELETE ON consultation_proposals BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_consultation_proposals_au AFTER UPDATE ON consultation_proposals BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_organisations_ai AFTER INSERT ON organisations BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_organisations_ad AFTER DELETE ON organisations BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS reports_changed_organisations_au AFTER UPDATE OF name, slug ON organisations BEGIN INSERT INTO data_versions (name, epoch, version) VALUES ('reports', lower(hex(randomblob(16))), 1) ON CONFLICT (name) DO UPDATE SET version = version + 1; END",
]

SQLITE_DROP = [
    'DROP TRIGGER IF EXISTS reports_changed_proposals_ai',
    'DROP TRIGGER IF EXISTS reports_changed_proposals_ad',
    'DROP TRIGGER IF EXISTS reports_changed_proposals_au',
    'DROP TRIGGER IF EXISTS reports_changed_answers_ai',
    'DROP TRIGGER IF EXISTS reports_changed_answers_ad',
    'DROP TRIGGER IF EXISTS reports_changed_answers_au',
    'DROP TRIGGER IF EXISTS reports_changed_answer_settings_ai',
    'DROP TRIGGER IF EXISTS reports_changed_answer_settings_ad',
    'DROP TRIGGER IF EXISTS reports_changed_answer_settings_au',
    'DROP TRIGGER IF EXISTS reports_changed_measures_ai',
    'DROP TRIGGER IF EXISTS reports_changed_measures_ad',
    'DROP TRIGGER IF EXISTS reports_changed_measures_au',
    'DROP TRIGGER IF EXISTS reports_changed_measure_proposals_ai',
    'DROP TRIGGER IF EXISTS reports_changed_measure_proposals_ad',
    'DROP TRIGGER IF EXISTS reports_changed_measure_proposals_au',
    'DROP TRIGGER IF EXISTS reports_changed_measure_milestones_ai',
    'DROP TRIGGER IF EXISTS reports_changed_measure_milestones_ad',
    'DROP TRIGGER IF EXISTS reports_changed_measure_milestones_au',
    'DROP TRIGGER IF EXISTS reports_changed_consultations_ai',
    'DROP TRIGGER IF EXISTS reports_changed_consultations_ad',
    'DROP TRIGGER IF EXISTS reports_changed_consultations_au',
    'DROP TRIGGER IF EXISTS reports_changed_consultation_proposals_ai',
    'DROP TRIGGER IF EXISTS reports_changed_consultation_proposals_ad',
    'DROP TRIGGER IF EXISTS reports_changed_consultation_proposals_au',
    'DROP TRIGGER IF EXISTS reports_changed_organisations_ai',
    'DROP TRIGGER IF EXISTS reports_changed_organisations_ad',
    'DROP TRIGGER IF EXISTS reports_changed_organisations_au',
]

PG_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION atelier_reports_changed() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  IF current_setting('atelier.reports_changed', true) IS DISTINCT FROM txid_current()::text THEN\n    PERFORM set_config('atelier.reports_changed', txid_current()::text, true);\n    INSERT INTO data_versions (name, epoch, version)\n      VALUES ('reports', md5(random()::text || clock_timestamp()::text), 1)\n      ON CONFLICT (name) DO UPDATE SET version = data_versions.version + 1;\n  END IF;\n  RETURN NULL;\nEND $$",
    'DROP TRIGGER IF EXISTS reports_changed ON proposals',
    'CREATE CONSTRAINT TRIGGER reports_changed AFTER INSERT OR DELETE OR UPDATE OF state, hidden_at, organisation_id, published_at, life_event_id, title, updated_at, merged_into_id ON proposals DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION atelier_reports_changed()',
    'DROP TRIGGER IF EXISTS reports_changed ON answers',
    'CREATE CONSTRAINT TRIGGER reports_changed AFTER INSERT OR DELETE OR UPDATE ON answers DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION atelier_reports_changed()',
    'DROP TRIGGER IF EXISTS reports_changed ON answer_settings',
    'CREATE CONSTRAINT TRIGGER reports_changed AFTER INSERT OR DELETE OR UPDATE ON answer_settings DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION atelier_reports_changed()',
    'DROP TRIGGER IF EXISTS reports_changed ON measures',
    'CREATE CONSTRAINT TRIGGER reports_changed AFTER INSERT OR DELETE OR UPDATE ON measures DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION atelier_reports_changed()',
    'DROP TRIGGER IF EXISTS reports_changed ON measure_proposals',
    'CREATE CONSTRAINT TRIGGER reports_changed AFTER INSERT OR DELETE OR UPDATE ON measure_proposals DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION atelier_reports_changed()',
    'DROP TRIGGER IF EXISTS reports_changed ON measure_milestones',
    'CREATE CONSTRAINT TRIGGER reports_changed AFTER INSERT OR DELETE OR UPDATE ON measure_milestones DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION atelier_reports_changed()',
    'DROP TRIGGER IF EXISTS reports_changed ON consultations',
    'CREATE CONSTRAINT TRIGGER reports_changed AFTER INSERT OR DELETE OR UPDATE OF state, closed_at ON consultations DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION atelier_reports_changed()',
    'DROP TRIGGER IF EXISTS reports_changed ON consultation_proposals',
    'CREATE CONSTRAINT TRIGGER reports_changed AFTER INSERT OR DELETE OR UPDATE ON consultation_proposals DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION atelier_reports_changed()',
    'DROP TRIGGER IF EXISTS reports_changed ON organisations',
    'CREATE CONSTRAINT TRIGGER reports_changed AFTER INSERT OR DELETE OR UPDATE OF name, slug ON organisations DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION atelier_reports_changed()',
]

PG_DROP = [
    'DROP TRIGGER IF EXISTS reports_changed ON proposals',
    'DROP TRIGGER IF EXISTS reports_changed ON answers',
    'DROP TRIGGER IF EXISTS reports_changed ON answer_settings',
    'DROP TRIGGER IF EXISTS reports_changed ON measures',
    'DROP TRIGGER IF EXISTS reports_changed ON measure_proposals',
    'DROP TRIGGER IF EXISTS reports_changed ON measure_milestones',
    'DROP TRIGGER IF EXISTS reports_changed ON consultations',
    'DROP TRIGGER IF EXISTS reports_changed ON consultation_proposals',
    'DROP TRIGGER IF EXISTS reports_changed ON organisations',
    'DROP FUNCTION IF EXISTS atelier_reports_changed()',
]


def _statements(create: bool) -> list[str]:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        return SQLITE_TRIGGERS if create else SQLITE_DROP
    if dialect == "postgresql":
        return PG_TRIGGERS if create else PG_DROP
    return []


def upgrade():
    op.create_table('data_versions',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('epoch', sa.String(length=32), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('version >= 1', name=op.f('ck_data_versions_version_positive')),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_data_versions'))
    )
    for statement in _statements(create=True):
        op.execute(statement)
    # A database migrated with its data has a version from the start (a fresh epoch), so its report pages are kept
    # from the first view rather than from the first change.
    op.execute(sa.text("INSERT INTO data_versions (name, epoch, version) VALUES ('reports', :epoch, 1)")
               .bindparams(epoch=uuid.uuid4().hex))


def downgrade():
    for statement in _statements(create=False):
        op.execute(statement)
    op.drop_table('data_versions')
