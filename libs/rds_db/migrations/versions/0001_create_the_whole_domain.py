"""create the whole domain

Revision ID: 0001
Revises:
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agents',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('service', sa.String(length=40), nullable=False),
    sa.Column('pool', sa.String(length=63), nullable=False),
    sa.Column('host', sa.String(length=253), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('running_tasks', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('heartbeat_interval', sa.Double(), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_agents'))
    )
    op.create_index(op.f('ix_agents_pool'), 'agents', ['pool'], unique=False)
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('command', sa.String(length=40), nullable=False),
    sa.Column('pool', sa.String(length=63), nullable=False),
    sa.Column('broadcast', sa.Boolean(), nullable=False),
    sa.Column('body', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=1000), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    op.create_index(op.f('ix_outbox_sent_at'), 'outbox', ['sent_at'], unique=False)
    op.create_table('projects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('repository', sa.String(length=2048), nullable=False),
    sa.Column('default_ref', sa.String(length=255), nullable=False),
    sa.Column('deploy_path', sa.String(length=1024), nullable=False),
    sa.Column('agent_pool', sa.String(length=63), nullable=False),
    sa.Column('keep_releases', sa.Integer(), nullable=False),
    sa.Column('post_migration_delay_days', sa.Integer(), nullable=False),
    sa.Column('upload_concurrency', sa.Integer(), nullable=False),
    sa.Column('upload_max_failures', sa.Integer(), nullable=False),
    sa.Column('shared_files', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('shared_dirs', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('notifications', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('build_counter', sa.Integer(), nullable=False),
    sa.Column('config_revision', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects')),
    sa.UniqueConstraint('name', name=op.f('uq_projects_name'))
    )
    op.create_table('release_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_release_lines')),
    sa.UniqueConstraint('number', name=op.f('uq_release_lines_number'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("role IN ('admin', 'deployer', 'viewer')", name=op.f('ck_users_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    op.create_index(op.f('ix_api_tokens_user_id'), 'api_tokens', ['user_id'], unique=False)
    op.create_table('config_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=128), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_config_files_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_config_files')),
    sa.UniqueConstraint('project_id', 'filename', name=op.f('uq_config_files_project_id_filename'))
    )
    op.create_table('deployment_switch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('id = 1', name=op.f('ck_deployment_switch_singleton')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_deployment_switch_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deployment_switch'))
    )
    op.create_table('project_line_counters',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('counter', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_project_line_counters_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'line', name=op.f('pk_project_line_counters'))
    )
    op.create_table('project_links',
    sa.Column('parent_id', sa.Integer(), nullable=False),
    sa.Column('child_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['child_id'], ['projects.id'], name=op.f('fk_project_links_child_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['parent_id'], ['projects.id'], name=op.f('fk_project_links_parent_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('parent_id', 'child_id', name=op.f('pk_project_links'))
    )
    op.create_table('project_scripts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_project_scripts_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project_scripts')),
    sa.UniqueConstraint('project_id', 'kind', name=op.f('uq_project_scripts_project_id_kind'))
    )
    op.create_table('release_bans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('release_line', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lifted_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['lifted_by_id'], ['users.id'], name=op.f('fk_release_bans_lifted_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_release_bans_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_release_bans_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_release_bans'))
    )
    op.create_index(op.f('ix_release_bans_project_id'), 'release_bans', ['project_id'], unique=False)
    op.create_table('release_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('version_key', sa.ARRAY(sa.Integer()), nullable=False),
    sa.Column('release_line', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('ref', sa.String(length=255), nullable=False),
    sa.Column('commit', sa.String(length=40), nullable=True),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('previous_version', sa.String(length=64), nullable=True),
    sa.Column('status_before_use', sa.String(length=16), nullable=True),
    sa.Column('build_attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('config_revision', sa.Integer(), nullable=True),
    sa.Column('pinned', sa.Boolean(), nullable=False),
    sa.Column('migration_status', sa.String(length=16), nullable=False),
    sa.Column('cron_config', sa.Text(), nullable=True),
    sa.Column('build_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('built_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('installed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('destroyed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('new', 'building', 'built', 'installing', 'installed', 'using', 'used', 'old', 'failed', 'cancelling', 'cancelled')", name=op.f('ck_release_requests_status')),
    sa.ForeignKeyConstraint(['parent_id'], ['release_requests.id'], name=op.f('fk_release_requests_parent_id_release_requests'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_release_requests_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_release_requests_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_release_requests')),
    sa.UniqueConstraint('project_id', 'version', name=op.f('uq_release_requests_project_id_version'))
    )
    op.create_index('ix_release_requests_created_at', 'release_requests', ['created_at'], unique=False)
    op.create_index(op.f('ix_release_requests_project_id'), 'release_requests', ['project_id'], unique=False)
    op.create_index('ix_release_requests_project_version_key', 'release_requests', ['project_id', 'version_key'], unique=False)
    op.create_index(op.f('ix_release_requests_status'), 'release_requests', ['status'], unique=False)
    op.create_table('servers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('host', sa.String(length=253), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('user', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('current_version', sa.String(length=64), nullable=True),
    sa.Column('current_checked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_servers_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_servers')),
    sa.UniqueConstraint('project_id', 'host', 'port', 'user', name=op.f('uq_servers_project_id_host_port_user'))
    )
    op.create_index(op.f('ix_servers_project_id'), 'servers', ['project_id'], unique=False)
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('release_id', sa.Integer(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_audit_log_project_id_projects'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['release_id'], ['release_requests.id'], name=op.f('fk_audit_log_release_id_release_requests'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_log_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index(op.f('ix_audit_log_action'), 'audit_log', ['action'], unique=False)
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False)
    op.create_index(op.f('ix_audit_log_project_id'), 'audit_log', ['project_id'], unique=False)
    op.create_table('changes',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('release_id', sa.Integer(), nullable=True),
    sa.Column('task_id', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_changes_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['release_id'], ['release_requests.id'], name=op.f('fk_changes_release_id_release_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_changes'))
    )
    op.create_table('config_file_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('config_file_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('project_revision', sa.Integer(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('upload_log', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['config_file_id'], ['config_files.id'], name=op.f('fk_config_file_versions_config_file_id_config_files'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_config_file_versions_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_config_file_versions')),
    sa.UniqueConstraint('config_file_id', 'version', name=op.f('uq_config_file_versions_config_file_id_version'))
    )
    op.create_table('migrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=4), nullable=False),
    sa.Column('release_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("state IN ('pending', 'applying', 'applied', 'failed', 'rolling_back', 'rollback_failed', 'deleted')", name=op.f('ck_migrations_state')),
    sa.CheckConstraint("type IN ('pre', 'post')", name=op.f('ck_migrations_type')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_migrations_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['release_id'], ['release_requests.id'], name=op.f('fk_migrations_release_id_release_requests'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_migrations')),
    sa.UniqueConstraint('project_id', 'type', 'name', name=op.f('uq_migrations_project_id_type_name'))
    )
    op.create_index(op.f('ix_migrations_project_id'), 'migrations', ['project_id'], unique=False)
    op.create_table('release_targets',
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('server_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('manifest_sha256', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['release_id'], ['release_requests.id'], name=op.f('fk_release_targets_release_id_release_requests'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['server_id'], ['servers.id'], name=op.f('fk_release_targets_server_id_servers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('release_id', 'server_id', name=op.f('pk_release_targets'))
    )
    op.create_table('tasks',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('lane', sa.String(length=16), nullable=True),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('release_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('pool', sa.String(length=63), nullable=False),
    sa.Column('agent', sa.String(length=200), nullable=True),
    sa.Column('run_id', sa.String(length=32), nullable=True),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('command', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('steps', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('build', 'activate', 'migrate', 'remove')", name=op.f('ck_tasks_kind')),
    sa.CheckConstraint("status IN ('queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled')", name=op.f('ck_tasks_status')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_tasks_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['release_id'], ['release_requests.id'], name=op.f('fk_tasks_release_id_release_requests'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_tasks_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks'))
    )
    op.create_index(op.f('ix_tasks_project_id'), 'tasks', ['project_id'], unique=False)
    op.create_index(op.f('ix_tasks_release_id'), 'tasks', ['release_id'], unique=False)
    op.create_index('uq_tasks_one_active_per_project_lane', 'tasks', ['project_id', 'lane'], unique=True, postgresql_where=sa.text('lane IS NOT NULL AND finished_at IS NULL'))
    op.create_table('task_logs',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_task_logs_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_logs')),
    sa.UniqueConstraint('task_id', 'run_id', 'seq', name=op.f('uq_task_logs_task_id_run_id_seq'))
    )
    op.bulk_insert(sa.table("release_lines", sa.column("number", sa.Integer),
                            sa.column("name", sa.String)),
                   [{"number": 1, "name": "First"}])
    op.bulk_insert(sa.table("deployment_switch", sa.column("id", sa.Integer),
                            sa.column("enabled", sa.Boolean)),
                   [{"id": 1, "enabled": True}])


def downgrade() -> None:
    op.drop_table('task_logs')
    op.drop_index('uq_tasks_one_active_per_project_lane', table_name='tasks', postgresql_where=sa.text('lane IS NOT NULL AND finished_at IS NULL'))
    op.drop_index(op.f('ix_tasks_release_id'), table_name='tasks')
    op.drop_index(op.f('ix_tasks_project_id'), table_name='tasks')
    op.drop_table('tasks')
    op.drop_table('release_targets')
    op.drop_index(op.f('ix_migrations_project_id'), table_name='migrations')
    op.drop_table('migrations')
    op.drop_table('config_file_versions')
    op.drop_table('changes')
    op.drop_index(op.f('ix_audit_log_project_id'), table_name='audit_log')
    op.drop_index(op.f('ix_audit_log_at'), table_name='audit_log')
    op.drop_index(op.f('ix_audit_log_action'), table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_index(op.f('ix_servers_project_id'), table_name='servers')
    op.drop_table('servers')
    op.drop_index(op.f('ix_release_requests_status'), table_name='release_requests')
    op.drop_index('ix_release_requests_project_version_key', table_name='release_requests')
    op.drop_index(op.f('ix_release_requests_project_id'), table_name='release_requests')
    op.drop_index('ix_release_requests_created_at', table_name='release_requests')
    op.drop_table('release_requests')
    op.drop_index(op.f('ix_release_bans_project_id'), table_name='release_bans')
    op.drop_table('release_bans')
    op.drop_table('project_scripts')
    op.drop_table('project_links')
    op.drop_table('project_line_counters')
    op.drop_table('deployment_switch')
    op.drop_table('config_files')
    op.drop_index(op.f('ix_api_tokens_user_id'), table_name='api_tokens')
    op.drop_table('api_tokens')
    op.drop_table('users')
    op.drop_table('release_lines')
    op.drop_table('projects')
    op.drop_index(op.f('ix_outbox_sent_at'), table_name='outbox')
    op.drop_table('outbox')
    op.drop_index(op.f('ix_agents_pool'), table_name='agents')
    op.drop_table('agents')
