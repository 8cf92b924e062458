"""nameko dependency that hands each worker a database session factory.

The engine is created once in ``setup`` and disposed in ``stop``/``kill``;
each worker gets the session factory and opens short transactions itself
(``with db.transaction() as session``), so a long handler never holds a
connection it does not use.
"""
from contextlib import AbstractContextManager

from nameko.extensions import DependencyProvider
from sqlalchemy.orm import Session, sessionmaker

from rds_db.session import DATABASE_URL_KEY, make_engine, make_session_factory, transaction


class DatabaseHandle:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    def transaction(self) -> AbstractContextManager[Session]:
        return transaction(self.session_factory)


class Database(DependencyProvider):
    def setup(self) -> None:
        self.engine = make_engine(self.container.config[DATABASE_URL_KEY])
        self.handle = DatabaseHandle(make_session_factory(self.engine))

    def stop(self) -> None:
        self.engine.dispose()

    def kill(self) -> None:
        self.engine.dispose()

    def get_dependency(self, worker_ctx: object) -> DatabaseHandle:
        return self.handle
