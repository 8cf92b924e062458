"""task fencing tokens

Every run that claims a task gets the next fencing token (``tasks.fence``);
the agent claims with it before each irreversible step.

Revision ID: 0003_fencing
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = '0003_fencing'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('tasks', sa.Column('fence', sa.Integer(), server_default='0',
                                     nullable=False))


def downgrade() -> None:
    op.drop_column('tasks', 'fence')
