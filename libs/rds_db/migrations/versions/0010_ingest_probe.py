"""ingest_probe: the newest probe ingest applied (how far behind ingest is);
agents.dropped_tasks: when a heartbeat stopped listing each task

Revision ID: heartbeats01
Revises: cfg01
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'heartbeats01'
down_revision = 'cfg01'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ingest_probe',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sender', sa.String(length=200), nullable=False),
        sa.Column('applied_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('id = 1', name=op.f('ck_ingest_probe_singleton')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_probe')),
    )
    op.add_column('agents', sa.Column('dropped_tasks', postgresql.JSONB(astext_type=sa.Text()),
                                      nullable=False, server_default='{}'))


def downgrade() -> None:
    op.drop_column('agents', 'dropped_tasks')
    op.drop_table('ingest_probe')
