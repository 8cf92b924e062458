"""project migrations: migration host per project, last task of each migration

Revision ID: 0004_migrations
Revises: 0003_teams
"""
from alembic import op
import sqlalchemy as sa

revision = '0004_migrations'
down_revision = '0003_teams'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('projects', sa.Column('migration_server', sa.String(length=300),
                                        nullable=True))
    op.add_column('migrations', sa.Column('task_id', sa.String(length=32), nullable=True))
    op.create_foreign_key(op.f('fk_migrations_task_id_tasks'), 'migrations', 'tasks',
                          ['task_id'], ['id'], ondelete='SET NULL')
    op.create_index(op.f('ix_migrations_task_id'), 'migrations', ['task_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_migrations_task_id'), table_name='migrations')
    op.drop_constraint(op.f('fk_migrations_task_id_tasks'), 'migrations', type_='foreignkey')
    op.drop_column('migrations', 'task_id')
    op.drop_column('projects', 'migration_server')
