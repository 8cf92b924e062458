"""Declarative base with a naming convention Alembic can rely on."""
import enum
from datetime import UTC, datetime

from sqlalchemy import DateTime, Enum, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def str_enum(enum_cls: type[enum.StrEnum], length: int = 16) -> Enum:
    """A VARCHAR column holding an ``enum.StrEnum``'s values, loaded as its members.

    The database keeps plain strings (guarded by CHECK constraints in the
    migrations); Python code sees and compares enum members.
    """
    return Enum(enum_cls, native_enum=False, create_constraint=False, length=length,
                validate_strings=True, values_callable=lambda cls: [m.value for m in cls])


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True)}


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow,
                                                 onupdate=utcnow)
