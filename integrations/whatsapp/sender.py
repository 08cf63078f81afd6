"""Asynchronous Cloud API sender (aiohttp) for the paced bulk path.

At 1,000 msg/s with ~100 ms of Cloud API latency, about a hundred requests are in flight at
once. A single ``httpx.AsyncClient`` spends ~14 ms of CPU per request at that concurrency
(encode/httpx#3215) and sharded clients ~0.8 ms; aiohttp stays near 0.2 ms, inside the
0.4 ms budget. Why this one module uses aiohttp: docs/adr/0002-aiohttp-in-the-sender.md.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
from collections.abc import Callable

import aiohttp

from integrations.whatsapp.consts import (
    DEFAULT_BASE_URL,
    GRAPH_API_VERSION,
    MARKETING_MESSAGES_ENDPOINT,
    MESSAGES_ENDPOINT,
)
from integrations.whatsapp.errors import WhatsAppApiError, WhatsAppTransportError, error_from_response
from integrations.whatsapp.types import SendResult, parse_send_response


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verified TLS context per process: loading the CA bundle costs ~15 ms of CPU, which
    a fresh context per dispatcher run (one per send job) would pay every time."""
    return ssl.create_default_context()


class AsyncSender:
    """Sends prepared message bodies for one phone number over a pooled aiohttp session."""

    def __init__(
        self,
        *,
        access_token: str,
        phone_number_id: str,
        base_url: str = DEFAULT_BASE_URL,
        max_connections: int = 256,
        timeout_seconds: float = 15.0,
        connect_timeout_seconds: float = 5.0,
    ):
        number = f"{base_url.rstrip('/')}/{GRAPH_API_VERSION}/{phone_number_id}"
        self._url = f"{number}/{MESSAGES_ENDPOINT}"
        self._marketing_url = f"{number}/{MARKETING_MESSAGES_ENDPOINT}"
        self._headers = {"Authorization": f"Bearer {access_token}", "Content-Type": "application/json"}
        self._max_connections = max_connections
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds, connect=connect_timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "AsyncSender":
        connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300, ssl=_tls_context())
        tracing = aiohttp.TraceConfig()
        tracing.on_request_headers_sent.append(_headers_sent)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, headers=self._headers, json_serialize=json.dumps,
            trace_configs=[tracing],
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, body: bytes, *, on_wire: Callable[[], None] | None = None,
                   marketing: bool = False) -> SendResult:
        """POST one JSON-encoded message body; raise a typed error when it is not accepted.

        ``marketing``: a MARKETING template of a number onboarded to the Marketing Messages
        API, POSTed to ``/marketing_messages`` (same body, same answer; see ``consts``).

        ``on_wire`` is called when the request's headers are written: after any wait for a
        pooled connection, the moment the Cloud API starts to see the request (the pacer
        counts its window by it)."""
        assert self._session is not None, "use AsyncSender as an async context manager"
        try:
            url = self._marketing_url if marketing else self._url
            async with self._session.post(url, data=body, trace_request_ctx={"on_wire": on_wire}) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
            # the connection was never made: the request cannot have reached Graph
            raise WhatsAppTransportError(f"{type(error).__name__} calling the Cloud API", in_doubt=False) from error
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise WhatsAppTransportError(f"{type(error).__name__} calling the Cloud API") from error
        if status >= 400:
            raise error_from_response(status, raw)
        try:
            return parse_send_response(json.loads(raw))
        except ValueError as error:
            raise WhatsAppApiError.unexpected(str(error)) from None


async def _headers_sent(session: aiohttp.ClientSession, context, params) -> None:
    on_wire = (context.trace_request_ctx or {}).get("on_wire")
    if on_wire is not None:
        on_wire()
