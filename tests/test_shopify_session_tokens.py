"""App Bridge session tokens: signature, audience, clock (10 s leeway), iss/dest shop."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
import pytest

from integrations.shopify.session_tokens import SessionToken, SessionTokenError, verify_session_token

API_KEY, SECRET = "test-api-key", "test-api-secret-0123456789abcdef"  # 32 bytes, like a real one
NOW = 1_790_000_000


def make(secret: str = SECRET, algorithm: str = "HS256", drop: tuple[str, ...] = (), **changes: object) -> str:
    claims = {
        "iss": "https://demo.myshopify.com/admin",
        "dest": "https://demo.myshopify.com",
        "aud": API_KEY,
        "sub": "42",
        "exp": NOW + 60,
        "nbf": NOW,
        "iat": NOW,
        "jti": "00000000-0000-0000-0000-000000000000",
        "sid": "session-1",
    } | changes
    for key in drop:
        claims.pop(key)
    return jwt.encode(claims, secret, algorithm=algorithm)


def test_valid_token() -> None:
    assert verify_session_token(make(), API_KEY, SECRET, now=NOW + 5) == SessionToken(
        shop_domain="demo.myshopify.com",
        user_id="42",
        session_id="session-1",
        expires_at=datetime.fromtimestamp(NOW + 60, tz=UTC),
        token_id="00000000-0000-0000-0000-000000000000",
    )


def test_leeway_of_ten_seconds_both_ways() -> None:
    verify_session_token(make(nbf=NOW + 10), API_KEY, SECRET, now=NOW)  # App Bridge's early nbf
    verify_session_token(make(), API_KEY, SECRET, now=NOW + 70)
    with pytest.raises(SessionTokenError, match="not valid yet"):
        verify_session_token(make(nbf=NOW + 11), API_KEY, SECRET, now=NOW)
    with pytest.raises(SessionTokenError, match="expired"):
        verify_session_token(make(), API_KEY, SECRET, now=NOW + 71)


def test_clock_defaults_to_now() -> None:
    with pytest.raises(SessionTokenError, match="expired"):
        verify_session_token(make(), API_KEY, SECRET)


def test_shop_uppercase_and_datetime_now() -> None:
    token = make(iss="https://Demo.myshopify.com/admin", dest="https://demo.MYSHOPIFY.com", sub="7")
    verified = verify_session_token(token, API_KEY, SECRET, now=datetime.fromtimestamp(NOW, tz=UTC))
    assert (verified.shop_domain, verified.user_id) == ("demo.myshopify.com", "7")


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (make(secret="other-secret-0123456789abcdefghij"), "InvalidSignatureError"),
        (make(aud="someone-else"), "InvalidAudienceError"),
        (make(secret=SECRET * 2, algorithm="HS512"), "InvalidAlgorithmError"),  # 64 bytes: what HS512 asks
        (make(drop=("dest",)), "MissingRequiredClaimError"),
        (make(drop=("sub",)), "MissingRequiredClaimError"),
        (make(drop=("nbf",)), "MissingRequiredClaimError"),
        (make(dest="https://other.myshopify.com"), "same valid shop"),
        (make(iss="https://demo.myshopify.com/admin/x"), "same valid shop"),
        (make(iss="http://demo.myshopify.com/admin", dest="http://demo.myshopify.com"), "same valid shop"),
        (make(iss="https://evil.com/admin", dest="https://evil.com"), "same valid shop"),
        (
            make(iss="https://demo.myshopify.com.evil.com/admin", dest="https://demo.myshopify.com.evil.com"),
            "same valid shop",
        ),
        (make(iss="https://demo.myshopify.com:8443/admin", dest="https://demo.myshopify.com:8443"), "same valid shop"),
        (make(sub=""), "sub"),
        ("not-a-jwt", "DecodeError"),
        ("", "no session token"),
    ],
)
def test_rejections(token: str, reason: str) -> None:
    with pytest.raises(SessionTokenError, match=reason):
        verify_session_token(token, API_KEY, SECRET, now=NOW)


def test_unsigned_token_is_rejected() -> None:
    header_and_claims = make().rsplit(".", 1)[0]
    none_token = jwt.encode({"iss": "x"}, key=None, algorithm="none")
    for token in (header_and_claims + ".", none_token):
        with pytest.raises(SessionTokenError):
            verify_session_token(token, API_KEY, SECRET, now=NOW)


def test_empty_key_or_secret_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        verify_session_token(make(), "", SECRET, now=NOW)
