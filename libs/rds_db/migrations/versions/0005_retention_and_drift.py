"""retention and drift: inspect tasks, per-server drift

Revision ID: gc01
Revises: 5e7c1a9d2b40
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 'gc01'
down_revision = '5e7c1a9d2b40'
branch_labels = None
depends_on = None

OLD_KINDS = "kind IN ('build', 'activate', 'migrate', 'remove')"
NEW_KINDS = "kind IN ('build', 'activate', 'migrate', 'remove', 'inspect')"


def upgrade() -> None:
    op.drop_constraint(op.f('ck_tasks_kind'), 'tasks', type_='check')
    op.create_check_constraint(op.f('ck_tasks_kind'), 'tasks', NEW_KINDS)
    op.add_column('servers', sa.Column('drift', postgresql.JSONB(astext_type=sa.Text()),
                                       server_default='[]', nullable=False))
    op.add_column('servers', sa.Column('inspected_at', sa.DateTime(timezone=True),
                                       nullable=True))
    op.add_column('servers', sa.Column('inspection_error', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('servers', 'inspection_error')
    op.drop_column('servers', 'inspected_at')
    op.drop_column('servers', 'drift')
    op.execute("DELETE FROM tasks WHERE kind = 'inspect'")
    op.drop_constraint(op.f('ck_tasks_kind'), 'tasks', type_='check')
    op.create_check_constraint(op.f('ck_tasks_kind'), 'tasks', OLD_KINDS)
