"""nameko dependency that hands each worker a database session factory.

The engine is created once in ``setup`` and disposed in ``stop``/``kill``;
each worker gets the session factory and opens short transactions itself
(``with db.transaction() as session``), so a long handler never holds a
connection it does not use.
"""
from nameko.extensions import DependencyProvider

from rds_db.session import DATABASE_URL_KEY, make_engine, make_session_factory, transaction


class DatabaseHandle:
    def __init__(self, session_factory):
        self.session_factory = session_factory

    def transaction(self):
        return transaction(self.session_factory)


class Database(DependencyProvider):
    def setup(self):
        self.engine = make_engine(self.container.config[DATABASE_URL_KEY])
        self.handle = DatabaseHandle(make_session_factory(self.engine))

    def stop(self):
        self.engine.dispose()

    def kill(self):
        self.engine.dispose()

    def get_dependency(self, worker_ctx):
        return self.handle
