"""An index on the author of releases, newest first: the board's "your projects" chips
read a user's latest releases without scanning everyone's.

Revision ID: bench01
Revises: heartbeats01
"""
from alembic import op

revision = "bench01"
down_revision = "heartbeats01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_release_requests_user_id_id", "release_requests", ["user_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_release_requests_user_id_id", "release_requests")
