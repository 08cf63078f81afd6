"""Helpers shared by the ``connector`` command modules (kept apart so they import no command)."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator

import click

from connector.extensions import db
from connector.shops import ShopError, find_shop


def _fail(error: Exception) -> None:
    click.echo(f"error: {error}", err=True)
    sys.exit(2)


def shop_or_fail(reference: str):
    """The shop a command names (id, domain or key), or its error on stderr and exit 2."""
    try:
        return find_shop(reference)
    except ShopError as error:
        _fail(error)


def needs_schema(command):
    """Commands that read or write tables say what to do when the database is still empty."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        from sqlalchemy import inspect


        if not inspect(db.engine).has_table("shops"):
            _fail(RuntimeError("the database has no tables yet: run `connector db upgrade` first"))
        return command(*args, **kwargs)

    return run


@contextlib.contextmanager
def progress(length: int, label: str) -> Iterator[Callable[..., None]]:
    """A progress bar on stderr while it is a terminal; silent when piped (stdout stays data).

    Yields ``advance(n=1)``."""
    if length <= 0 or not sys.stderr.isatty():
        yield lambda steps=1: None
        return
    with click.progressbar(length=length, label=label, file=sys.stderr, show_eta=True, show_pos=True) as bar:
        yield lambda steps=1: bar.update(steps)
