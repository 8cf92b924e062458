"""Indexes for keyset pages of the board: newest first by id, per project and per status.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_release_requests_project_id_id", "release_requests",
                    ["project_id", "id"])
    op.create_index("ix_release_requests_status_id", "release_requests", ["status", "id"])
    op.create_index("ix_release_requests_deleted_id", "release_requests", ["id"],
                    postgresql_where="deleted_at IS NOT NULL")


def downgrade() -> None:
    op.drop_index("ix_release_requests_deleted_id", "release_requests")
    op.drop_index("ix_release_requests_status_id", "release_requests")
    op.drop_index("ix_release_requests_project_id_id", "release_requests")
