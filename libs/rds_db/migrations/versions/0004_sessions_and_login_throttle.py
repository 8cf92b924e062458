"""per-user session version and the login throttle

Revision ID: 5e7c1a9d2b40
Revises: 0003_fencing
"""
from alembic import op
import sqlalchemy as sa

revision = '5e7c1a9d2b40'
down_revision = '0003_fencing'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('users', sa.Column('session_version', sa.Integer(), server_default='0',
                                     nullable=False))
    op.create_table('login_throttle',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttle'))
    )


def downgrade() -> None:
    op.drop_table('login_throttle')
    op.drop_column('users', 'session_version')
