"""What every request and answer goes through, whatever its blueprint.

- Behind ``TRUSTED_PROXY_COUNT`` proxies (a Heroku-style router, a load balancer), werkzeug's
  ``ProxyFix`` takes the client's address and scheme from that many ``X-Forwarded-For`` and
  ``X-Forwarded-Proto`` hops, and from no more: a value a client wrote itself further left is
  never believed. With the default 0, forwarded headers are ignored.
  https://werkzeug.palletsprojects.com/en/stable/middleware/proxy_fix/
- Path and query values holding a NUL or a lone surrogate are refused (404 and 400) before a
  view runs: no column stores them, so they must never reach a query.
- The security headers, set once here rather than per view.
"""

from __future__ import annotations

from flask import Flask, Response, abort, request
from werkzeug.middleware.proxy_fix import ProxyFix

from connector.extensions import settings
from connector.web.errors import is_storable_text

#: answers read by programs, not people, and short links (the shop's page must not learn a
#: link's code): none of them needs to tell another site where the visitor came from
_NO_REFERRER_PREFIXES = ("/admin/api/", "/storefront/", "/webhooks/", "/healthz", "/woocommerce/callback", "/l/")
#: one year; browsers only honour it over HTTPS, and production is served over HTTPS only.
#: No includeSubDomains: the connector's host says nothing about its siblings.
HSTS = "max-age=31536000"


def install(app: Flask, *, trusted_proxy_count: int) -> None:
    if trusted_proxy_count:
        # Flask's documented way to wrap its WSGI app
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=trusted_proxy_count, x_proto=trusted_proxy_count)
    app.before_request(refuse_unstorable_url_values)
    app.after_request(add_security_headers)


def refuse_unstorable_url_values() -> None:
    """404 for a path value, 400 for a query value, with a NUL or a lone surrogate."""
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and not is_storable_text(value):
            abort(404)
    for name, values in request.args.lists():
        if not is_storable_text(name) or not all(is_storable_text(value) for value in values):
            abort(400, description="a query value holds a NUL character or an unpaired surrogate")


def add_security_headers(response: Response) -> Response:
    """``nosniff`` everywhere; a referrer policy; HSTS in production; admin API never cached.

    A view's own choice stands (the embedded admin page's per-shop ``frame-ancestors``
    policy, a short link's ``Cache-Control``); only the admin API's ``Cache-Control`` is forced,
    since its answers hold the shop's data and must not be kept by a browser or proxy.
    """
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    no_referrer = request.path.startswith(_NO_REFERRER_PREFIXES)
    headers.setdefault("Referrer-Policy", "no-referrer" if no_referrer else "strict-origin-when-cross-origin")
    if request.path.startswith("/admin/api/"):
        headers["Cache-Control"] = "no-store"
    if settings().is_production:
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response
