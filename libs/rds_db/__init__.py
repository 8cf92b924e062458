"""rds's own database: SQLAlchemy 2 models, sessions and the Alembic tree.

Only the web-side services (``web``, ``ingest``, ``pruner``) import this
package; agents never do (a test enforces it). Schema changes go through
Alembic (``rds db upgrade``); no service migrates at start-up.
"""
