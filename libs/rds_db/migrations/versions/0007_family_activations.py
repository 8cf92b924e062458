"""family activations

Revision ID: 0003_teams
Revises: 0002_teams

Activations of parent/child projects started together share the parent's
task id (``tasks.family_task_id``), so a failure of one switches the others
back (issue 10).
"""
from alembic import op
import sqlalchemy as sa

revision = '0003_teams'
down_revision = '0002_teams'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('tasks', sa.Column('family_task_id', sa.String(length=32), nullable=True))
    op.create_index(op.f('ix_tasks_family_task_id'), 'tasks', ['family_task_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_tasks_family_task_id'), table_name='tasks')
    op.drop_column('tasks', 'family_task_id')
