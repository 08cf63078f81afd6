"""Small database helpers that must behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy.orm import Session


def insert_or_ignore(session: Session, model: Any, values: dict[str, Any], conflict: Iterable[str]) -> int | None:
    """INSERT one row unless it collides on the ``conflict`` columns.

    Returns the new row's id, or ``None`` when a row with the same key already exists.
    One statement, so concurrent writers (two deliveries of the same webhook, a retried
    job) cannot both insert: the unique constraint decides.
    """
    statement = insert_ignoring(session.get_bind().dialect.name, model, values, conflict)
    return session.execute(statement).scalar_one_or_none()


def insert_ignoring(dialect: str, model: Any, values: dict[str, Any], conflict: Iterable[str]):
    """The ``INSERT … ON CONFLICT DO NOTHING RETURNING id`` statement of ``insert_or_ignore``."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - we support these two
        raise NotImplementedError(f"insert_or_ignore does not support {dialect}")
    return insert(model).values(**values).on_conflict_do_nothing(index_elements=list(conflict)).returning(model.id)
