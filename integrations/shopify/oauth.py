"""Pure helpers of Shopify's OAuth flows: shop domains, query HMACs, the authorize URL, state.

No network and no Flask here: the views call these and ``client.py`` does the HTTP.
Flow and rules: https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant
(summarised with sources in docs/reference platforms.md §1.2).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, urlencode

from integrations.shopify.errors import InvalidShopDomainError

__all__ = [
    "authorize_url",
    "is_fresh",
    "is_valid_shop_domain",
    "new_nonce",
    "normalise_shop_domain",
    "query_hmac",
    "sign_state",
    "verify_query_hmac",
    "verify_state",
]

# ---------------------------------------------------------------------------------------
# Shop domains
# ---------------------------------------------------------------------------------------

# Only production shop domains. Shopify's own libraries also accept shopify.com,
# myshopify.io and shop.dev hosts (their test and spin environments); a merchant's
# install never comes from those, and every extra suffix is one more SSRF target.
_SHOP_DOMAIN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-]*\.myshopify\.com", re.IGNORECASE)


def is_valid_shop_domain(domain: object) -> bool:
    """True when ``domain`` is exactly ``<name>.myshopify.com`` (any case), nothing around it."""
    return isinstance(domain, str) and _SHOP_DOMAIN.fullmatch(domain) is not None


def normalise_shop_domain(raw: object) -> str:
    """Return ``raw`` as a lowercase ``<name>.myshopify.com``; raise ``InvalidShopDomainError``.

    Only surrounding whitespace is forgiven. A scheme, path, port, user info, trailing dot
    or any other suffix (``x.myshopify.com.evil.com``, ``evil.com/.myshopify.com``) is
    refused rather than cleaned up: the value ends up in the host of URLs we call with
    secrets, so anything short of an exact match is an attack or a bug.
    ``InvalidShopDomainError`` is a ``ValueError``.
    """
    text = raw.strip() if isinstance(raw, str) else ""
    if not is_valid_shop_domain(text):
        raise InvalidShopDomainError("not a <name>.myshopify.com shop domain")
    return text.lower()


# ---------------------------------------------------------------------------------------
# HMAC of install, callback and App URL query strings
# ---------------------------------------------------------------------------------------

#: parameters that carry signatures rather than being signed
_UNSIGNED_KEYS = frozenset({"hmac", "signature"})

QueryInput = str | Mapping[str, "str | Sequence[str]"] | Iterable[tuple[str, str]]


def query_hmac(query: QueryInput, secret: str) -> str:
    """The lowercase hex HMAC-SHA256 Shopify would put in ``hmac`` for these parameters.

    Uses the decoded-values form of :func:`verify_query_hmac`; handy for tests and fakes.
    """
    return _hex_hmac(_message_from_decoded(_pairs(query)), secret)


def verify_query_hmac(query: QueryInput, secret: str) -> bool:
    """Check the ``hmac`` parameter of a request Shopify redirected to us; constant time.

    ``query`` may be the raw query string (best: percent-encoding kept as sent), a mapping
    (values a string or a list of strings), or ``(key, value)`` pairs such as
    ``request.args.items(multi=True)``.

    The signed message is every parameter except ``hmac`` and ``signature``, as ``k=v``,
    sorted, joined with ``&``, HMAC-SHA256 with the app's client secret, lowercase hex.
    Shopify's two libraries rebuild ``k=v`` differently, so both forms are accepted
    (either one still needs our secret, so this widens nothing for a forger):

    - decoded values with ``%``→``%25`` and ``&``→``%26`` escaped in keys and values and
      ``=``→``%3D`` in keys (shopify_python_api ``Session.__encoded_params_for_signature``);
    - the values as percent-encoded in the URL, spaces as ``%20`` (shopify-app-js
      ``lib/utils/hmac-validator.ts``: "Shopify signs with %20, not +").

    Array parameters (``ids[]=2&ids[]=1``, sent by admin bulk actions) and repeated keys
    are signed as one key without ``[]`` whose value is the JSON list of the strings in
    the order received, ``", "``-separated: ``ids=["2", "1"]``.
    """
    if not secret:
        raise ValueError("secret must not be empty")
    pairs = _pairs(query)
    received = [value for key, value in pairs if key == "hmac"]
    if len(received) != 1 or not isinstance(received[0], str):
        return False
    given = received[0].strip().lower().encode()
    candidates = {_message_from_decoded(pairs)}
    if isinstance(query, str):
        candidates.add(_message_from_raw(query))
    else:
        candidates.add(_message_from_reencoded(pairs))
    matched = False
    for message in candidates:
        # compare every candidate so timing does not say which form matched
        matched |= hmac.compare_digest(_hex_hmac(message, secret).encode(), given)
    return matched


def _pairs(query: QueryInput) -> list[tuple[str, str]]:
    if isinstance(query, str):
        return parse_qsl(query.lstrip("?"), keep_blank_values=True)
    if isinstance(query, Mapping):
        pairs: list[tuple[str, str]] = []
        for key, value in query.items():
            if isinstance(value, (list, tuple)):
                pairs.extend((str(key), str(item)) for item in value)
            else:
                pairs.append((str(key), str(value)))
        return pairs
    return [(str(key), str(value)) for key, value in query]


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Signed parameters by key (``[]`` stripped): one value, or the JSON list of several."""
    groups: dict[str, list[str]] = {}
    arrays: set[str] = set()
    for key, value in pairs:
        if key in _UNSIGNED_KEYS:
            continue
        if key.endswith("[]"):
            key = key[:-2]
            arrays.add(key)
        groups.setdefault(key, []).append(value)
    return {
        key: _json_list(values) if key in arrays or len(values) > 1 else values[0]
        for key, values in groups.items()
    }


def _json_list(values: list[str]) -> str:
    return json.dumps(values)  # default separators: ", " as Shopify signs it


def _message_from_decoded(pairs: Iterable[tuple[str, str]]) -> str:
    encoded = []
    for key, value in _grouped(pairs).items():
        safe_key = key.replace("%", "%25").replace("=", "%3D").replace("&", "%26")
        safe_value = value.replace("%", "%25").replace("&", "%26")
        encoded.append(f"{safe_key}={safe_value}")
    return "&".join(sorted(encoded))


def _message_from_reencoded(pairs: Iterable[tuple[str, str]]) -> str:
    groups = _grouped(pairs)
    return "&".join(f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in sorted(groups.items()))


def _message_from_raw(query: str) -> str:
    raw_pairs = []
    for part in query.lstrip("?").split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        raw_pairs.append((key.replace("+", "%20"), value.replace("+", "%20")))
    # array parameters need their decoded values to build the JSON list
    decoded_keys = {key for key, _ in _pairs(query)}
    if any(key.endswith("[]") for key in decoded_keys) or len(decoded_keys) != len(raw_pairs):
        return _message_from_decoded(_pairs(query))
    signed = [(key, value) for key, value in raw_pairs if key not in _UNSIGNED_KEYS]
    return "&".join(f"{key}={value}" for key, value in sorted(signed))


def _hex_hmac(message: str, secret: str) -> str:
    if not secret:
        # An empty key would make every forged query "valid"; refuse instead.
        raise ValueError("secret must not be empty")
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def is_fresh(timestamp: object, now: datetime, max_age: timedelta = timedelta(minutes=5)) -> bool:
    """True when ``timestamp`` (epoch seconds, as Shopify sends it) is within ``max_age`` of ``now``.

    Either direction counts, so a clock a little ahead is tolerated but a replay is not.
    Shopify's Node library allows 90 s, the Python one 24 h; five minutes sits between.
    """
    if isinstance(timestamp, str) and timestamp.strip().isdigit():
        timestamp = int(timestamp.strip())
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        return False
    try:
        sent = datetime.fromtimestamp(timestamp, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return False
    return abs(_aware(now) - sent) <= max_age


# ---------------------------------------------------------------------------------------
# Authorize redirect and signed state
# ---------------------------------------------------------------------------------------


def authorize_url(shop: str, api_key: str, scopes: str | Iterable[str], redirect_uri: str, state: str) -> str:
    """The ``/admin/oauth/authorize`` URL that asks the merchant for an offline token.

    No ``grant_options[]`` is sent: that asks for an offline (shop-wide) token; ``per-user``
    would ask for an online one. Empty ``scopes`` omits ``scope``, so the scopes declared in
    ``shopify.app.toml`` apply (as shopify_python_api's ``create_permission_url`` does).
    https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant#step-3-ask-for-permission
    """
    domain = normalise_shop_domain(shop)
    scope = scopes if isinstance(scopes, str) else ",".join(scope.strip() for scope in scopes if scope.strip())
    params = {"client_id": api_key}
    if scope:
        params["scope"] = scope
    params |= {"redirect_uri": redirect_uri, "state": state}
    return f"https://{domain}/admin/oauth/authorize?{urlencode(params, quote_via=quote)}"


def new_nonce() -> str:
    """A fresh random ``state`` value: 32 random bytes, hex (as shopify-app-js makes them)."""
    return secrets.token_hex(32)


def sign_state(nonce: str, secret: str, issued_at: datetime) -> str:
    """The value of our short-lived state cookie: ``<nonce>.<epoch seconds>.<hex HMAC>``.

    The cookie proves the callback comes from the browser that started the install; the
    HMAC (keyed with our own secret, never Shopify's) stops a visitor from minting one.
    """
    if not nonce or "." in nonce:
        raise ValueError("nonce must be non-empty and contain no '.'")
    issued = int(_aware(issued_at).timestamp())
    return f"{nonce}.{issued}.{_state_mac(nonce, issued, secret)}"


def verify_state(value: object, secret: str, now: datetime, max_age: int = 600) -> str | None:
    """Return the nonce of a cookie made by :func:`sign_state`, or ``None`` if it is not ours,
    malformed, issued in the future or older than ``max_age`` seconds.

    The caller then compares the nonce with the callback's ``state`` parameter
    (``hmac.compare_digest``), as Shopify's libraries do.
    """
    if not isinstance(value, str):
        return None
    parts = value.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit():
        return None
    nonce, issued_text, mac = parts
    issued = int(issued_text)
    if not hmac.compare_digest(_state_mac(nonce, issued, secret).encode(), mac.encode()):
        return None
    age = _aware(now).timestamp() - issued
    if age < -5 or age > max_age:  # five seconds of clock skew between our own processes
        return None
    return nonce


def _state_mac(nonce: str, issued: int, secret: str) -> str:
    return _hex_hmac(f"shopify-oauth-state|{nonce}|{issued}", secret)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
