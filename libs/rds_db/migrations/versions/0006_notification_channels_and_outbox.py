"""notification channels and outbox

Revision ID: 0002_teams
Revises: gc01

Project notification channels (email, Slack-compatible and signed webhooks)
and the outbox the pruner delivers from (issue 10).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002_teams'
down_revision = 'gc01'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notification_channels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=2048), nullable=False),
    sa.Column('secret', sa.String(length=200), nullable=True),
    sa.Column('events', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('last_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_notification_channels_project_id_projects'), ondelete='CASCADE'),
    sa.CheckConstraint("kind IN ('email', 'slack', 'webhook')", name=op.f('ck_notification_channels_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_channels'))
    )
    op.create_index(op.f('ix_notification_channels_project_id'), 'notification_channels', ['project_id'], unique=False)
    op.create_table('notification_outbox',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('body', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('given_up_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['channel_id'], ['notification_channels.id'], name=op.f('fk_notification_outbox_channel_id_notification_channels'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_outbox'))
    )
    op.create_index(op.f('ix_notification_outbox_channel_id'), 'notification_outbox', ['channel_id'], unique=False)
    op.create_index('ix_notification_outbox_due', 'notification_outbox', ['next_attempt_at'], unique=False, postgresql_where='sent_at IS NULL AND given_up_at IS NULL')


def downgrade() -> None:
    op.drop_index('ix_notification_outbox_due', table_name='notification_outbox', postgresql_where='sent_at IS NULL AND given_up_at IS NULL')
    op.drop_index(op.f('ix_notification_outbox_channel_id'), table_name='notification_outbox')
    op.drop_table('notification_outbox')
    op.drop_index(op.f('ix_notification_channels_project_id'), table_name='notification_channels')
    op.drop_table('notification_channels')
