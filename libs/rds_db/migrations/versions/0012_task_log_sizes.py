"""Bytes of log stored per task (the release log cap without summing the log).

Revision ID: ingest01
Revises: bench01
"""
import sqlalchemy as sa
from alembic import op

revision = "ingest01"
down_revision = 'bench01'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_log_sizes",
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"],
                                name=op.f("fk_task_log_sizes_task_id_tasks"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_task_log_sizes")),
    )
    op.execute("INSERT INTO task_log_sizes (task_id, bytes) "
               "SELECT task_id, sum(octet_length(text)) FROM task_logs GROUP BY task_id")


def downgrade() -> None:
    op.drop_table("task_log_sizes")
