"""rds's own schema migrations form one chain (several branches merged must be re-chained)."""
from alembic.script import ScriptDirectory

from rds_db.migrate import alembic_config


def test_there_is_exactly_one_head():
    script = ScriptDirectory.from_config(alembic_config("postgresql://unused/x"))
    assert len(script.get_heads()) == 1, script.get_heads()
