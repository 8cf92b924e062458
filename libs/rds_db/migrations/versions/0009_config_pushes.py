"""config pushes: per-version upload state, results and task; what the servers hold;
task kinds 'config' and 'config_check'

Revision ID: cfg01
Revises: 0004_migrations
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 'cfg01'
down_revision = '0004_migrations'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('config_file_versions', sa.Column('deleted', sa.Boolean(), nullable=False,
                                                    server_default=sa.false()))
    op.add_column('config_file_versions', sa.Column('task_id', sa.String(length=32),
                                                    nullable=True))
    op.add_column('config_file_versions', sa.Column('upload_state', sa.String(length=16),
                                                    nullable=True))
    op.add_column('config_file_versions', sa.Column(
        'upload_results', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.create_foreign_key(op.f('fk_config_file_versions_task_id_tasks'), 'config_file_versions',
                          'tasks', ['task_id'], ['id'], ondelete='SET NULL')
    op.create_index(op.f('ix_config_file_versions_task_id'), 'config_file_versions',
                    ['task_id'], unique=False)
    op.drop_constraint(op.f('ck_tasks_kind'), 'tasks', type_='check')
    op.create_check_constraint(
        op.f('ck_tasks_kind'), 'tasks',
        "kind IN ('build', 'activate', 'migrate', 'remove', 'inspect', 'config', "
        "'config_check')")
    op.add_column('config_files', sa.Column(
        'server_state', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column('config_files', sa.Column('server_checked_at', sa.DateTime(timezone=True),
                                            nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM tasks WHERE kind IN ('config', 'config_check')")
    op.drop_column('config_files', 'server_checked_at')
    op.drop_column('config_files', 'server_state')
    op.drop_constraint(op.f('ck_tasks_kind'), 'tasks', type_='check')
    op.create_check_constraint(op.f('ck_tasks_kind'), 'tasks',
                               "kind IN ('build', 'activate', 'migrate', 'remove', 'inspect')")
    op.drop_index(op.f('ix_config_file_versions_task_id'), table_name='config_file_versions')
    op.drop_constraint(op.f('fk_config_file_versions_task_id_tasks'), 'config_file_versions',
                       type_='foreignkey')
    for column in ('upload_results', 'upload_state', 'task_id', 'deleted'):
        op.drop_column('config_file_versions', column)
