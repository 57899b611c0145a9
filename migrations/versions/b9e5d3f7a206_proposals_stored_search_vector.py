"""proposals: stored French search vector on PostgreSQL

Revision ID: b9e5d3f7a206
Revises: a8d4c2e6f105
Create Date: 2026-11-23 13:20:00

The expression GIN index made matching fast but ranking re-parsed every matching text; a stored generated
``tsvector`` column is ranked without re-parsing. SQLite (FTS5) is unchanged. Frozen statements: the search
structures are not in the ORM metadata (see app/proposals/search.py).
"""
from alembic import op

DOCUMENT = ("to_tsvector('french'::regconfig, coalesce(title, '') || ' ' || coalesce(problem, '') || ' ' || "
            "coalesce(change, '') || ' ' || coalesce(benefit, ''))")

# revision identifiers, used by Alembic.
revision = 'b9e5d3f7a206'
down_revision = 'a8d4c2e6f105'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_proposals_search_fr")
    op.execute(f"ALTER TABLE proposals ADD COLUMN IF NOT EXISTS search_fr tsvector GENERATED ALWAYS AS ({DOCUMENT}) STORED")
    op.execute("CREATE INDEX IF NOT EXISTS ix_proposals_search_fr ON proposals USING gin (search_fr)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_proposals_search_fr")
    op.execute("ALTER TABLE proposals DROP COLUMN IF EXISTS search_fr")
    op.execute(f"CREATE INDEX IF NOT EXISTS ix_proposals_search_fr ON proposals USING gin (({DOCUMENT}))")
