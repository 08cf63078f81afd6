"""Driving libpq directly for the receipt writer: prepared statements sent and read without
blocking a gevent worker (``connector.receipt_writer`` is the only user).

psycopg's ``PGconn`` exposes libpq's calls one to one; the writer uses two of them, in a
blocking form in a thread and a non-blocking form under gevent.
"""

from __future__ import annotations

import sys

from psycopg import OperationalError, pq


def message(result) -> str:
    """A failed result's error message, as text."""
    return (result.error_message or b"").decode(errors="replace").strip()


def execute(pgconn, kind: str, *arguments, patience: float):
    """libpq's ``PQprepare`` / ``PQexecPrepared`` (``kind``), without blocking a gevent worker.

    In a thread, libpq's blocking call is best: it waits in C and lets the other threads run
    (it releases the GIL). Under gevent it would stop every request of the process until the
    server answers, so there the statement is sent and its result read with libpq's
    non-blocking calls, waiting on the socket through gevent's hub. (psycopg's own wait goes
    through gevent's emulated ``poll``: ~100 µs more CPU per statement on the bench machine.)
    A socket that stays silent for ``patience`` seconds is a dead connection.
    """
    blocking, sending = _LIBPQ_CALLS[kind]
    waits = _gevent_waits()
    if waits is None:
        return getattr(pgconn, blocking)(*arguments)
    wait_read, wait_write = waits
    try:
        pgconn.nonblocking = 1
        getattr(pgconn, sending)(*arguments)
        while pgconn.flush():  # the rest of a large batch: wait until the socket takes more
            wait_write(pgconn.socket, timeout=patience)
        result = None
        while True:  # read to the end: one statement gives one result, then None
            pgconn.consume_input()
            while pgconn.is_busy():  # get_result() would block while the server has not finished
                wait_read(pgconn.socket, timeout=patience)
                pgconn.consume_input()
            next_result = pgconn.get_result()
            if next_result is None:
                break
            if result is None:
                result = next_result
    except OSError as error:  # gevent's wait timed out (socket.timeout)
        raise OperationalError(f"no answer from the server in {patience} s") from error
    finally:
        if pgconn.status == pq.ConnStatus.OK:  # a broken connection is dropped by the caller
            pgconn.nonblocking = 0
    if result is None:
        raise OperationalError("the server sent no result")
    return result


#: kind → (libpq's blocking call, its non-blocking counterpart), as psycopg's ``PGconn`` names them
_LIBPQ_CALLS = {"prepare": ("prepare", "send_prepare"), "query_prepared": ("exec_prepared", "send_query_prepared")}


def _gevent_waits():
    """gevent's socket waits when gevent has patched this process (gunicorn's gevent worker)."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("socket"):
        return None
    from gevent.socket import wait_read, wait_write

    return wait_read, wait_write
