"""Verify App Bridge session tokens, the JWTs the embedded admin sends as ``Authorization: Bearer``.

A session token is signed HS256 with the app's client secret and lives one minute; fetch a
fresh one per request. Claims and checks:
https://shopify.dev/docs/apps/build/authentication-authorization/session-tokens
(``iss`` = ``https://<shop>/admin``, ``dest`` = ``https://<shop>``, ``aud`` = API key,
``sub`` = staff user id, ``sid`` = session id). Shopify's Python library requires ``iss``
and ``dest`` to name the same valid shop and allows 10 s of leeway because App Bridge
often sends an ``nbf`` slightly in the future (shopify_python_api ``session_token.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import jwt

from integrations.shopify.errors import SessionTokenError
from integrations.shopify.oauth import is_valid_shop_domain

__all__ = ["LEEWAY_SECONDS", "ExtensionToken", "SessionToken", "SessionTokenError", "verify_extension_token",
           "verify_session_token"]

LEEWAY_SECONDS = 10
_ALGORITHMS = ["HS256"]  # pinned: never let the token choose (no "none", no RS/HS confusion)
_REQUIRED_CLAIMS = ("iss", "dest", "aud", "sub", "exp", "nbf")


@dataclass(frozen=True, slots=True)
class SessionToken:
    """What a verified session token says."""

    shop_domain: str  # lowercase ``<name>.myshopify.com``
    user_id: str  # ``sub``: the staff member using the embedded app
    session_id: str | None  # ``sid``
    expires_at: datetime
    token_id: str | None = None  # ``jti``


def verify_session_token(
    token: str,
    api_key: str,
    api_secret: str,
    *,
    now: float | datetime | None = None,
    leeway: int = LEEWAY_SECONDS,
) -> SessionToken:
    """Verify ``token`` and return its claims; raise :class:`SessionTokenError` on any failure.

    Checks the HS256 signature with ``api_secret``, ``aud == api_key``, ``exp`` and ``nbf``
    against ``now`` (default: the clock) with ``leeway`` seconds, and that ``iss`` and
    ``dest`` are HTTPS URLs on the same valid ``*.myshopify.com`` shop.
    """
    if not api_key or not api_secret:
        raise ValueError("api_key and api_secret must not be empty")
    if not isinstance(token, str) or not token:
        raise SessionTokenError("no session token")
    try:
        claims = jwt.decode(
            token,
            api_secret,
            algorithms=_ALGORITHMS,
            audience=api_key,
            # the clock checks are done below so that ``now`` can be injected
            options={"require": list(_REQUIRED_CLAIMS), "verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.PyJWTError as error:
        raise SessionTokenError(f"session token rejected: {type(error).__name__}") from None
    moment = _epoch(now)
    expires, not_before = _number(claims.get("exp")), _number(claims.get("nbf"))
    if expires is None or not_before is None:
        raise SessionTokenError("session token exp/nbf are not numbers")
    if moment > expires + leeway:
        raise SessionTokenError("session token expired")
    if moment < not_before - leeway:
        raise SessionTokenError("session token not valid yet")
    shop = _shop_of(claims.get("iss"), admin_path=True)
    if shop is None or shop != _shop_of(claims.get("dest"), admin_path=False):
        raise SessionTokenError("session token iss and dest do not name the same valid shop")
    user_id = claims.get("sub")
    if not isinstance(user_id, (str, int)) or isinstance(user_id, bool) or str(user_id) == "":
        raise SessionTokenError("session token has no usable sub")
    return SessionToken(
        shop_domain=shop,
        user_id=str(user_id),
        session_id=_text(claims.get("sid")),
        expires_at=datetime.fromtimestamp(expires, tz=UTC),
        token_id=_text(claims.get("jti")),
    )


def _shop_of(url: object, *, admin_path: bool) -> str | None:
    """The shop domain of ``https://<shop>`` (``dest``) or ``https://<shop>/admin`` (``iss``)."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.scheme != "https" or port is not None or parts.username or parts.password:
        return None
    if parts.query or parts.fragment or not is_valid_shop_domain(host):
        return None
    expected_paths = ("/admin", "/admin/") if admin_path else ("", "/")
    if parts.path not in expected_paths:
        return None
    return host.lower()


def _epoch(now: float | datetime | None) -> float:
    if now is None:
        return time.time()
    if isinstance(now, datetime):
        return (now if now.tzinfo else now.replace(tzinfo=UTC)).timestamp()
    return float(now)


def _number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class ExtensionToken:
    """What a verified checkout UI extension's session token says."""

    shop_domain: str
    customer_gid: str | None  # ``sub``: only for a logged-in buyer, when the app may read customers
    expires_at: datetime


def verify_extension_token(token: str, api_key: str, api_secret: str, *, now: float | datetime | None = None,
                           leeway: int = LEEWAY_SECONDS) -> ExtensionToken:
    """Verify the session token a checkout UI extension sends to our backend
    (``sessionToken.get()``; HS256 with the app secret, ``aud`` the app's client id, five
    minutes). ``dest`` names the shop, with or without ``https://``; ``sub`` is optional.
    https://shopify.dev/docs/api/checkout-ui-extensions/latest/target-apis/platform-apis/session-token-api
    """
    if not api_key or not api_secret:
        raise ValueError("api_key and api_secret must not be empty")
    if not isinstance(token, str) or not token or len(token) > 4096:
        raise SessionTokenError("no session token")
    try:
        claims = jwt.decode(token, api_secret, algorithms=_ALGORITHMS, audience=api_key,
                            options={"require": ["dest", "aud", "exp"], "verify_exp": False, "verify_nbf": False,
                                     "verify_iat": False})
    except jwt.PyJWTError as error:
        raise SessionTokenError(f"session token rejected: {type(error).__name__}") from None
    moment = _epoch(now)
    expires, not_before = _number(claims.get("exp")), _number(claims.get("nbf"))
    if expires is None or moment > expires + leeway:
        raise SessionTokenError("session token expired")
    if not_before is not None and moment < not_before - leeway:
        raise SessionTokenError("session token not valid yet")
    dest = claims.get("dest")
    shop = (_shop_of(dest, admin_path=False) if isinstance(dest, str) and "://" in dest
            else (dest.lower() if isinstance(dest, str) and is_valid_shop_domain(dest) else None))
    if shop is None:
        raise SessionTokenError("session token names no valid shop")
    return ExtensionToken(shop_domain=shop, customer_gid=_text(claims.get("sub")),
                          expires_at=datetime.fromtimestamp(expires, tz=UTC))
