"""Helpers shared by the ``connector`` command modules (kept apart so they import no command)."""

from __future__ import annotations

import functools
import sys

import click


def _fail(error: Exception) -> None:
    click.echo(f"error: {error}", err=True)
    sys.exit(2)


def needs_schema(command):
    """Commands that read or write tables say what to do when the database is still empty."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        from sqlalchemy import inspect

        from connector.extensions import db

        if not inspect(db.engine).has_table("shops"):
            _fail(RuntimeError("the database has no tables yet: run `connector db upgrade` first"))
        return command(*args, **kwargs)

    return run
