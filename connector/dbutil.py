"""Small database helpers that must behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

import logging
import typing
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeAlias

from sqlalchemy import CursorResult, Result, Row, String, Table, bindparam, cast, event, func, select, update
from sqlalchemy.orm import Session, make_transient_to_detached, scoped_session
from sqlalchemy.orm.util import identity_key

log = logging.getLogger(__name__)

#: a session, or Flask-SQLAlchemy's ``db.session`` (a ``scoped_session``, which proxies one)
AnySession: TypeAlias = Session | scoped_session[Any]


# -- one transaction for a unit of work (a webhook receipt) --------------------------------------

_HELD = "connector.transaction_held"
_AFTER_COMMIT = "connector.after_commit"


@contextmanager
def held_transaction(session: AnySession) -> Iterator[None]:
    """Within this block the caller owns the transaction: ``commit`` only flushes, and
    ``when_committed`` actions wait for the caller's own commit (after a rollback they are
    dropped). ``connector.jobs.ingest.process_receipt`` holds it while a receipt's events are
    applied, so the receipt and all it caused commit together, once. A ``session.commit()``
    called directly still commits (and runs the actions registered so far)."""
    session.info[_HELD] = session.info.get(_HELD, 0) + 1
    try:
        yield
    finally:
        session.info[_HELD] -= 1
        if not session.info[_HELD]:
            del session.info[_HELD]


def is_held(session: AnySession) -> bool:
    return bool(session.info.get(_HELD))


def commit(session: AnySession) -> None:
    """Commit; inside ``held_transaction`` flush instead (the holder commits)."""
    if is_held(session):
        session.flush()
    else:
        session.commit()


def when_committed(session: AnySession, action: Callable[[], None]) -> None:
    """Run ``action`` once the work so far is committed: now, unless a ``held_transaction`` is
    open; then after its commit (an error of the action is logged, never raised: what it does
    must be best-effort, such as waking a job the sweep would otherwise find), or never if the
    transaction rolls back."""
    if is_held(session):
        session.connection()  # the transaction has begun, so a rollback of it is seen even before any statement
        session.info.setdefault(_AFTER_COMMIT, []).append(action)
    else:
        action()


def install_hooks() -> None:
    """Listen to every session's commits and rollbacks (``create_app`` calls this; twice is a no-op)."""
    for name, hook in (("after_commit", _run_after_commit), ("after_soft_rollback", _forget_after_rollback)):
        if not event.contains(Session, name, hook):
            event.listen(Session, name, hook)


def _run_after_commit(session: Session) -> None:
    for action in session.info.pop(_AFTER_COMMIT, None) or ():
        try:
            action()
        except Exception:  # noqa: BLE001 - the commit is done; the action is best-effort by contract
            log.warning("db.after_commit_failed", exc_info=True)


def _forget_after_rollback(session: Session, previous_transaction) -> None:
    """Any rollback of the whole transaction, even one that had sent nothing yet (a savepoint's does not count)."""
    if previous_transaction.parent is None:
        session.info.pop(_AFTER_COMMIT, None)


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched. ``session.execute`` is typed as returning a ``Result``;
    for these statements it is a ``CursorResult``, which has ``rowcount``."""
    return typing.cast(CursorResult[Any], result).rowcount


def insert_or_ignore(session: AnySession, model: Any, values: dict[str, Any], conflict: Iterable[str]) -> int | None:
    """INSERT one row unless it collides on the ``conflict`` columns.

    Returns the new row's id, or ``None`` when a row with the same key already exists.
    One statement, so concurrent writers (two deliveries of the same webhook, a retried
    job) cannot both insert: the unique constraint decides.
    """
    statement = insert_ignoring(session.get_bind().dialect.name, model, values, conflict)
    return session.execute(statement).scalar_one_or_none()


def insert_or_load(session: AnySession, model: Any, values: dict[str, Any], conflict: Iterable[str],
                   *where: Any) -> tuple[Any, bool]:
    """``insert_or_ignore``, then the row as an object of ``model``, and whether this call made it.

    A new row is not read back (``inserted_row``). An existing one (the key was taken) is read
    with ``where``, the conditions that select it by that key.
    """
    new_id = insert_or_ignore(session, model, values, conflict)
    if new_id is None:
        return session.scalars(select(model).where(*where)).one(), False
    return inserted_row(session, model, values, new_id), True


def inserted_row(session: AnySession, model: Any, values: dict[str, Any], new_id: int) -> Any:
    """The row just inserted with ``values`` (RETURNING gave ``new_id``) as a loaded object in the
    session, built rather than read back: a column not in ``values`` without a default is None,
    one with a default is read when first used."""
    if session.identity_map.get(identity_key(model, new_id)) is not None:  # a deleted row's reused id
        return session.get(model, new_id, populate_existing=True)
    empty = {column.key: None for column in model.__table__.columns
             if column.key not in values and not column.primary_key
             and column.default is None and column.server_default is None}
    row = model(id=new_id, **values, **empty)
    make_transient_to_detached(row)  # what is set counts as loaded, not as a change to flush
    session.add(row)
    return row


def insert_ignoring(dialect: str, model: Any, values: dict[str, Any], conflict: Iterable[str]):
    """The ``INSERT … ON CONFLICT DO NOTHING RETURNING id`` statement of ``insert_or_ignore``."""
    return _dialect_insert(dialect)(model).values(**values).on_conflict_do_nothing(
        index_elements=list(conflict)).returning(model.id)


#: from this many rows on PostgreSQL sends arrays (``unnest``) rather than a ``VALUES`` list
#: (measured: at 1 row VALUES costs 0.33 ms and unnest 0.74 ms; at 30 rows unnest is ahead, and
#: at 1,000 rows it costs 32 µs a row against 103 µs)
UNNEST_FROM_ROWS = 20


def insert_rows_ignoring(session: AnySession, table: Table, rows: Sequence[dict[str, Any]], conflict: Iterable[str],
                         returning: Iterable[str], chunk: int = 1000) -> list[Row]:
    """INSERT many rows (dicts with the same keys) unless they collide on ``conflict``.

    One statement per ``chunk`` rows, ``… ON CONFLICT DO NOTHING RETURNING <returning>``;
    a row that collides returns nothing, so callers match the returned rows by their key,
    not by position. The statements carry no values, so each is built and compiled once:

    - a multi-row ``VALUES`` INSERT (SQLAlchemy's "insertmanyvalues"), on SQLite and for
      a few rows on PostgreSQL;
    - from ``UNNEST_FROM_ROWS`` rows on PostgreSQL, ``INSERT … SELECT * FROM unnest(:col1,
      :col2, …)``, one array parameter per column: a ``VALUES`` list of 1,000 rows of 18
      columns has 18,000 placeholders, and the driver's conversion of that text alone
      costs more than the insert.
    """
    if not rows:
        return []
    columns, conflict, returning = tuple(rows[0]), tuple(conflict), tuple(returning)
    dialect = session.get_bind().dialect.name
    returned: list[Row] = []
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        if dialect == "postgresql" and len(part) >= UNNEST_FROM_ROWS:
            statement = _many_statement("postgresql+unnest", table, columns, conflict, returning)
            returned.extend(session.execute(statement, {name: [row[name] for row in part] for name in columns}))
        else:
            statement = _many_statement(dialect, table, columns, conflict, returning)
            returned.extend(session.execute(statement, list(part)))
    return returned


def copy_rows_ignoring(session: AnySession, table: Table, rows: Sequence[dict[str, Any]], conflict: Iterable[str],
                       returning: Iterable[str], chunk: int = 1000) -> list[Row] | list[tuple]:
    """``insert_rows_ignoring``, by ``COPY`` on PostgreSQL: for writers of many thousand rows.

    The rows go by ``COPY … FROM STDIN`` into a temporary table shaped like ``table`` (made once
    per connection, emptied at commit), then ``INSERT … SELECT … ON CONFLICT DO NOTHING
    RETURNING``, in the session's transaction. Binding one array parameter per column costs
    the driver more than the insert for a JSON column (each element escaped in Python); COPY's
    row formatting is the driver's C code. Elsewhere this is ``insert_rows_ignoring``."""
    if not rows:
        return []
    if session.get_bind().dialect.name != "postgresql":
        return insert_rows_ignoring(session, table, rows, conflict, returning, chunk)
    import json

    columns = tuple(rows[0])
    json_columns = {name for name in columns if table.c[name].type.__class__.__name__ == "JSON"}
    names = ", ".join(f'"{name}"' for name in columns)
    temp = f"_copy_{table.name}"
    raw = session.connection().connection.driver_connection
    assert raw is not None  # a live connection of the session's transaction
    with raw.cursor() as cursor:
        cursor.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{temp}" (LIKE "{table.name}" INCLUDING DEFAULTS) '
                       "ON COMMIT DELETE ROWS")
        with cursor.copy(f'COPY "{temp}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(tuple(json.dumps(row[name]) if name in json_columns else row[name]
                                     for name in columns))
        cursor.execute(f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{temp}" '
                       f'ON CONFLICT ({", ".join(conflict)}) DO NOTHING RETURNING {", ".join(returning)}')
        returned = cursor.fetchall()
        cursor.execute(f'TRUNCATE "{temp}"')
    return returned


_MANY_STATEMENTS: dict[tuple, Any] = {}


def _many_statement(form: str, table: Table, columns: tuple[str, ...], conflict: tuple[str, ...],
                    returning: tuple[str, ...]):
    """``form``: a dialect name, or "postgresql+unnest"."""
    key = (form, table.name, columns, conflict, returning)
    if key not in _MANY_STATEMENTS:
        insert = _dialect_insert(form.split("+")[0])(table)
        if form == "postgresql+unnest":
            arrays = [cast(bindparam(name, type_=_array_of(table.c[name].type)), _array_of(table.c[name].type))
                      for name in columns]
            source = func.unnest(*arrays).table_valued(*columns).render_derived()
            insert = insert.from_select(list(columns), select(*(source.c[name] for name in columns)))
        statement = insert.on_conflict_do_nothing(index_elements=list(conflict)).returning(
            *(table.c[name] for name in returning))
        _MANY_STATEMENTS[key] = statement
    return _MANY_STATEMENTS[key]


def _array_of(column_type: Any):
    from sqlalchemy.dialects.postgresql import ARRAY

    if isinstance(column_type, String) and column_type.length:
        # an explicit CAST to VARCHAR(n) cuts a longer value silently; the INSERT's own
        # conversion to the column rejects it, as a plain INSERT would
        column_type = String()
    return ARRAY(column_type)


def _dialect_insert(dialect: str) -> Callable[..., Any]:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
        return insert
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert
        return sqlite_insert
    raise NotImplementedError(f"insert_or_ignore does not support {dialect}")  # pragma: no cover - we support two


def claim_rows(session: AnySession, table: Any, ready: Any, values: dict[str, Any], *conditions: Any) -> list[int]:
    """Lock the rows ``ready`` selects (ids, ``LIMIT n FOR UPDATE SKIP LOCKED``), update them, return their ids.

    Two statements in the caller's transaction, on purpose: in ``UPDATE … WHERE id IN
    (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`` PostgreSQL may run the subquery more than
    once, and each run skips the rows the previous one locked, so one claim could take more
    than ``n`` rows (seen: 25 rows claimed with a limit of 20).
    """
    ids = session.execute(ready).scalars().all()
    if not ids:
        return []
    return list(session.execute(
        update(table).where(table.c.id.in_(ids), *conditions).values(**values).returning(table.c.id)
    ).scalars().all())
