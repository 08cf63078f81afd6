"""What the benchmarks share: where their database is and whether a port answers."""

from __future__ import annotations

import os
import socket


def port_open(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.3)
        return probe.connect_ex((host, port)) == 0


def database_url(workdir: str, scratch_name: str) -> str:
    """``BENCH_DATABASE_URL``; else a fresh scratch PostgreSQL database when a server answers
    on 127.0.0.1:5432 (as on CI's machine); else SQLite in ``workdir``."""
    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"]
    if port_open("127.0.0.1", 5432):
        from sqlalchemy import create_engine, text

        admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {scratch_name}"))
            connection.execute(text(f"CREATE DATABASE {scratch_name}"))
        admin.dispose()
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{scratch_name}"
    return f"sqlite:///{workdir}/bench.db"


async def post_shopify_webhook(session, base_url: str, body: bytes, headers: dict, failures: list[str]) -> str:
    """POST one signed delivery; "accepted", the HTTP status, or the client error's name (the
    first five errors are kept in ``failures``)."""
    import asyncio

    import aiohttp

    try:
        async with session.post(base_url + "/webhooks/shopify", data=body, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=30)) as response:
            text = await response.read()
            return "accepted" if response.status == 200 and b"accepted" in text else str(response.status)
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        if len(failures) < 5:
            failures.append(repr(error))
        return type(error).__name__
