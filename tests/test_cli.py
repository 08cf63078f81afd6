"""The ``connector`` command, driven through the real Click group against the test app and
database: connecting stores and numbers, listing them, reading the outbox."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, text

from connector.extensions import db
from connector.models import Message, Shop, WhatsAppAccount, utcnow
from tests.factories import make_contact, make_shop, order_confirmation


def shop_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Shop))


def raw_column(table: str, column: str, row_id: int) -> str:
    return db.session.execute(text(f"SELECT {column} FROM {table} WHERE id = :id"), {"id": row_id}).scalar_one()


# -- shops add shopify ---------------------------------------------------------------------------


def test_add_shopify_completes_the_domain_and_encrypts_the_token(run):
    result = run("shops", "add", "shopify", "--domain", "my-shop", "--access-token", "shpat_x1234567890",
                 "--no-subscribe", "--no-verify")
    assert result.exit_code == 0, result.output
    shop = db.session.scalars(select(Shop)).one()
    assert shop.platform == "shopify"
    assert shop.domain == "my-shop.myshopify.com"
    assert shop.credentials["access_token"] == "shpat_x1234567890"
    assert f"shop {shop.id} my-shop.myshopify.com (key {shop.shop_key})" in result.output
    assert "shpat_x1234567890" not in result.output

    stored = raw_column("shops", "credentials", shop.id)
    assert stored and "shpat_x1234567890" not in stored
    assert "access_token" not in stored  # the whole JSON is encrypted, not just the value


@pytest.mark.parametrize(
    ("given", "domain"),
    [
        ("My-Shop.myshopify.com", "my-shop.myshopify.com"),
        ("https://my-shop.myshopify.com/admin", "my-shop.myshopify.com"),
        ("  my-shop  ", "my-shop.myshopify.com"),
    ],
)
def test_add_shopify_accepts_common_spellings(run, given, domain):
    result = run("shops", "add", "shopify", "--domain", given, "--access-token", "shpat_x",
                 "--no-subscribe", "--no-verify")
    assert result.exit_code == 0, result.output
    assert db.session.scalars(select(Shop.domain)).one() == domain


@pytest.mark.parametrize(
    "domain",
    [
        "store.myshopify.com.evil.com",
        "evil.com",
        "evil.com/.myshopify.com",
        "my-shop.myshopify.com@evil.com",
        "https://evil.com#.myshopify.com",
        "-bad-.myshopify.com",
        "my_shop",
    ],
)
def test_add_shopify_refuses_foreign_domains_and_creates_nothing(run, domain):
    result = run("shops", "add", "shopify", "--domain", domain, "--access-token", "shpat_x",
                 "--no-subscribe", "--no-verify")
    assert result.exit_code == 2
    assert "name.myshopify.com" in result.output
    assert "error:" in result.output
    assert "Traceback" not in result.output
    assert shop_count() == 0


def test_add_shopify_refuses_an_empty_token(run):
    result = run("shops", "add", "shopify", "--domain", "my-shop", "--access-token", "  ",
                 "--no-subscribe", "--no-verify")
    assert result.exit_code == 2
    assert "token" in result.output
    assert shop_count() == 0


def test_add_shopify_twice_updates_the_same_shop(run):
    assert run("shops", "add", "shopify", "--domain", "my-shop", "--access-token", "shpat_old",
               "--no-subscribe", "--no-verify").exit_code == 0
    assert run("shops", "add", "shopify", "--domain", "my-shop.myshopify.com", "--access-token", "shpat_new",
               "--no-subscribe", "--no-verify").exit_code == 0
    shop = db.session.scalars(select(Shop)).one()
    assert shop.credentials["access_token"] == "shpat_new"


def test_add_shopify_requires_its_options(run):
    result = run("shops", "add", "shopify", "--domain", "my-shop")  # (no token: refused before any check)
    assert result.exit_code == 2
    assert "--access-token" in result.output
    assert shop_count() == 0


# -- shops add woocommerce -----------------------------------------------------------------------


def test_add_woocommerce_with_rest_keys(run):
    result = run("shops", "add", "woocommerce", "--url", "https://Store.Example/", "--consumer-key", "ck_a",
                 "--consumer-secret", "cs_b", "--no-verify")  # made-up keys: an offline set-up
    assert result.exit_code == 0, result.output
    shop = db.session.scalars(select(Shop)).one()
    assert (shop.platform, shop.domain) == ("woocommerce", "https://store.example")
    assert shop.credentials == {"consumer_key": "ck_a", "consumer_secret": "cs_b"}
    stored = raw_column("shops", "credentials", shop.id)
    assert "cs_b" not in stored and "ck_a" not in stored


def test_add_woocommerce_on_localhost_may_use_http(run):
    result = run("shops", "add", "woocommerce", "--url", "http://localhost:8080/shop", "--consumer-key", "ck_a",
                 "--consumer-secret", "cs_b", "--no-verify")
    assert result.exit_code == 0, result.output
    assert db.session.scalars(select(Shop.domain)).one() == "http://localhost:8080/shop"


@pytest.mark.parametrize("url", ["http://store.example", "ftp://store.example", "store.example", "https://"])
def test_add_woocommerce_refuses_urls_that_are_not_https(run, url):
    result = run("shops", "add", "woocommerce", "--url", url, "--consumer-key", "ck_a", "--consumer-secret", "cs_b")
    assert result.exit_code == 2
    assert "error:" in result.output and "Traceback" not in result.output
    assert shop_count() == 0


def test_add_woocommerce_http_error_explains_https(run):
    result = run("shops", "add", "woocommerce", "--url", "http://store.example", "--consumer-key", "ck_a",
                 "--consumer-secret", "cs_b")
    assert "https://" in result.output


@pytest.mark.parametrize(
    ("key", "secret"),
    [("cs_key1", "cs_secret1"), ("ck_key1", "ck_secret1"), ("key1", "secret1"), ("CK_key1", "cs_secret1")],
)
def test_add_woocommerce_refuses_wrong_key_prefixes(run, key, secret):
    result = run("shops", "add", "woocommerce", "--url", "https://store.example", "--consumer-key", key,
                 "--consumer-secret", secret)
    assert result.exit_code == 2
    assert "ck_" in result.output and "cs_" in result.output
    assert secret not in result.output and key not in result.output  # nothing given is echoed
    assert shop_count() == 0


# -- whatsapp set / resume -----------------------------------------------------------------------


def _add_two_shops(run) -> tuple[Shop, Shop]:
    assert run("shops", "add", "shopify", "--domain", "first-shop", "--access-token", "shpat_1",
               "--no-subscribe", "--no-verify").exit_code == 0
    assert run("shops", "add", "woocommerce", "--url", "https://second.example", "--consumer-key", "ck_2",
               "--consumer-secret", "cs_2", "--no-verify").exit_code == 0
    first, second = db.session.scalars(select(Shop).order_by(Shop.id)).all()
    return first, second


def test_whatsapp_set_stores_the_account_with_the_token_encrypted(run):
    first, _ = _add_two_shops(run)
    result = run("whatsapp", "set", "--shop", "first-shop.myshopify.com", "--phone-number-id", "123",
                 "--access-token", "EAAG-secret-token", "--waba-id", "W")
    assert result.exit_code == 0, result.output
    assert "EAAG-secret-token" not in result.output
    account = db.session.scalars(select(WhatsAppAccount)).one()
    assert (account.shop_id, account.phone_number_id, account.waba_id) == (first.id, "123", "W")
    assert account.access_token == "EAAG-secret-token"
    # the limit is read from Meta (the sandbox's portfolio is at TIER_2K), issue 14.6
    assert account.throughput_per_second == 80 and account.messaging_limit == 2000
    stored = raw_column("whatsapp_accounts", "access_token", account.id)
    assert stored and "EAAG-secret-token" not in stored


def test_whatsapp_set_finds_the_shop_by_id_or_key(run):
    first, second = _add_two_shops(run)
    assert run("whatsapp", "set", "--shop", str(second.id), "--phone-number-id", "222",
               "--access-token", "T").exit_code == 0
    assert run("whatsapp", "set", "--shop", first.shop_key, "--phone-number-id", "111",
               "--access-token", "T").exit_code == 0
    numbers = dict(db.session.execute(select(WhatsAppAccount.shop_id, WhatsAppAccount.phone_number_id)).all())
    assert numbers == {first.id: "111", second.id: "222"}


def test_whatsapp_set_again_updates_the_account(run):
    first, _ = _add_two_shops(run)
    run("whatsapp", "set", "--shop", str(first.id), "--phone-number-id", "123", "--access-token", "old",
        "--waba-id", "W")
    result = run("whatsapp", "set", "--shop", str(first.id), "--phone-number-id", "123", "--access-token", "new",
                 "--throughput", "250", "--messaging-limit", "0")
    assert result.exit_code == 0, result.output
    account = db.session.scalars(select(WhatsAppAccount)).one()
    assert account.access_token == "new"
    assert account.waba_id == "W"  # kept
    assert account.throughput_per_second == 250
    # 0 removes the operator's ceiling: the limit is Meta's (the sandbox's TIER_2K), issue 14.6
    assert account.messaging_limit == 2000
    assert "Meta says 2000" in result.output


def test_whatsapp_set_refuses_a_number_already_connected_to_another_shop(run):
    first, second = _add_two_shops(run)
    assert run("whatsapp", "set", "--shop", str(first.id), "--phone-number-id", "123",
               "--access-token", "T1").exit_code == 0
    result = run("whatsapp", "set", "--shop", str(second.id), "--phone-number-id", "123", "--access-token", "T2")
    assert result.exit_code == 2
    assert "another shop" in result.output
    assert "Traceback" not in result.output
    accounts = db.session.scalars(select(WhatsAppAccount)).all()
    assert [(a.shop_id, a.access_token) for a in accounts] == [(first.id, "T1")]


def test_whatsapp_set_refuses_a_taken_number_given_with_spaces(run):
    first, second = _add_two_shops(run)
    assert run("whatsapp", "set", "--shop", str(first.id), "--phone-number-id", "123",
               "--access-token", "T1").exit_code == 0
    try:
        result = run("whatsapp", "set", "--shop", str(second.id), "--phone-number-id", " 123 ", "--access-token", "T2")
    finally:
        db.session.rollback()
    assert result.exit_code == 2
    assert "another shop" in result.output


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--phone-number-id", "+49 151", "--access-token", "T"], "numeric id"),
        (["--phone-number-id", "123", "--access-token", " "], "token"),
        (["--phone-number-id", "123", "--access-token", "T", "--throughput", "5000"], "1,000"),
    ],
)
def test_whatsapp_set_refuses_bad_values(run, options, says):
    first, _ = _add_two_shops(run)
    try:
        result = run("whatsapp", "set", "--shop", str(first.id), *options)
    finally:
        db.session.rollback()  # the command's session is this test's session: drop what it left
    assert result.exit_code == 2
    assert says in result.output
    assert db.session.scalar(select(func.count()).select_from(WhatsAppAccount)) == 0


def test_whatsapp_set_with_bad_throughput_leaves_nothing_to_commit(run):
    first, _ = _add_two_shops(run)
    try:
        result = run("whatsapp", "set", "--shop", str(first.id), "--phone-number-id", "123", "--access-token", "T",
                     "--throughput", "5000")
        assert result.exit_code == 2
        db.session.commit()  # any later commit in the same session (a web request, a job)
        assert db.session.scalar(select(func.count()).select_from(WhatsAppAccount)) == 0
    finally:
        db.session.rollback()


def test_whatsapp_set_for_an_unknown_shop(run):
    result = run("whatsapp", "set", "--shop", "nobody.myshopify.com", "--phone-number-id", "1", "--access-token", "T")
    assert result.exit_code == 2
    assert "no shop" in result.output


def test_whatsapp_resume_clears_a_pause(run):
    shop = make_shop()
    shop.sending_paused_at = utcnow()
    shop.sending_paused_reason = "error:131031 account locked"
    db.session.commit()

    listed = run("shops", "list")
    assert "paused: error:131031 account locked" in listed.output

    result = run("whatsapp", "resume", "--shop", shop.domain)
    assert result.exit_code == 0, result.output
    assert f"shop {shop.id}: sending resumed" in result.output
    shop = db.session.get(Shop, shop.id)
    assert shop.sending_paused_at is None and shop.sending_paused_reason is None
    assert not shop.is_sending_paused
    assert "\tactive" in run("shops", "list").output


def test_whatsapp_resume_unknown_shop(run):
    result = run("whatsapp", "resume", "--shop", "unknown")
    assert result.exit_code == 2
    assert "no shop" in result.output


# -- shops list ----------------------------------------------------------------------------------


def test_shops_list_shows_both_shops_and_their_numbers(run):
    first, second = _add_two_shops(run)
    run("whatsapp", "set", "--shop", str(first.id), "--phone-number-id", "123", "--access-token", "EAAG-T")
    result = run("shops", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].split("\t")[:4] == [str(first.id), "shopify", "first-shop.myshopify.com", first.shop_key]
    assert "whatsapp=123" in lines[0] and lines[0].endswith("active")
    assert lines[1].split("\t")[:4] == [str(second.id), "woocommerce", "https://second.example", second.shop_key]
    assert "whatsapp=-" in lines[1]
    # no secrets in the listing
    for secret in ("shpat_1", "cs_2", "EAAG-T"):
        assert secret not in result.output


# -- outbox ----------------------------------------------------------------------------------------


def _queue_two(shop=None):
    shop = shop or make_shop()
    contact = make_contact(shop, phone="+4915112345678")
    first = order_confirmation(shop, contact, key="order:1001:confirmation").message
    second = order_confirmation(shop, contact, key="order:1002:confirmation", language="en",
                                automation="shipping_update", template_name="shipping_update").message
    return shop, contact, first, second


def test_outbox_json_prints_one_object_per_line_without_phone_numbers(run):
    shop, contact, first, second = _queue_two()
    result = run("outbox", "--shop", shop.domain, "--json")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2
    rows = [json.loads(line) for line in lines]
    for row in rows:
        assert {"id", "automation", "template", "language", "status", "created_at"} <= row.keys()
    assert [row["id"] for row in rows] == [second.id, first.id]  # newest first
    by_id = {row["id"]: row for row in rows}
    assert by_id[first.id]["automation"] == "order_confirmation"
    assert by_id[first.id]["template"] == "order_confirmation"
    assert by_id[first.id]["language"] == "de"
    assert by_id[second.id]["automation"] == "shipping_update"
    assert by_id[second.id]["template"] == "shipping_update"
    assert by_id[second.id]["language"] == "en"
    assert all(row["status"] == "queued" for row in rows)
    for row in rows:
        assert row["created_at"][:4].isdigit() and "T" in row["created_at"]
    # nothing personal: no phone number in any form, no name, no message text
    for needle in ("+4915112345678", "4915112345678", "15112345678", "Maria", "49,90"):
        assert needle not in result.output


def test_outbox_is_scoped_to_the_shop(run):
    shop, _, _, _ = _queue_two()
    other = make_shop("other-shop.myshopify.com", phone_number_id="2000002")
    result = run("outbox", "--shop", other.domain, "--json")
    assert result.exit_code == 0
    assert result.output.strip() == ""
    assert len(run("outbox", "--shop", str(shop.id), "--json").output.strip().splitlines()) == 2


def test_outbox_table_has_no_phone_numbers(run):
    shop, _, _, _ = _queue_two()
    result = run("outbox", "--shop", shop.shop_key)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].split()[:2] == ["id", "created"]
    assert len(lines) == 3
    assert "order_confirmation" in result.output and "shipping_update" in result.output
    assert "4915112345678" not in result.output and "Maria" not in result.output


def test_outbox_status_filter(run):
    shop, _, first, _ = _queue_two()
    db.session.get(Message, first.id).status = "sent"
    db.session.commit()
    rows = [json.loads(line)
            for line in run("outbox", "--shop", shop.domain, "--json", "--status", "sent").output.splitlines()]
    assert [row["id"] for row in rows] == [first.id]


def test_outbox_unknown_shop_exits_2(run):
    result = run("outbox", "--shop", "unknown")
    assert result.exit_code == 2
    assert "no shop 'unknown'" in result.output
    result = run("outbox", "--shop", "unknown", "--json")
    assert result.exit_code == 2



def test_plugin_settings_show_what_the_wordpress_plugin_needs(run):
    from connector.models import Shop

    assert run("shops", "add", "woocommerce", "--url", "https://store.example", "--consumer-key", "ck_1",
               "--consumer-secret", "cs_1", "--no-verify").exit_code == 0
    result = run("shops", "plugin-settings", "--shop", "https://store.example")
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    shop = db.session.scalars(select(Shop)).one()
    assert f"Store key:     {shop.shop_key}" in result.output
    assert f"Shared secret: {shop.credentials['webhook_secret']}" in result.output
    assert shop.shop_key == shop.shop_key.lower()  # survives WordPress's sanitize_key()
    again = run("shops", "plugin-settings", "--shop", shop.shop_key)
    assert again.output == result.output  # the secret is made once
    assert run("shops", "plugin-settings", "--shop", "nope").exit_code == 2


def test_disconnect_stops_a_store_and_needs_yes(run):
    from connector.models import Shop

    assert run("shops", "add", "woocommerce", "--url", "https://store.example", "--consumer-key", "ck_1",
               "--consumer-secret", "cs_1", "--no-verify").exit_code == 0
    shop = db.session.scalars(select(Shop)).one()
    db.session.add(WhatsAppAccount(shop_id=shop.id, phone_number_id="777", access_token="t", messaging_limit=None))
    db.session.commit()
    contact = make_contact(shop)
    waiting = order_confirmation(shop, contact).message
    assert run("shops", "disconnect", "--shop", shop.domain).exit_code == 2  # no --yes
    result = run("shops", "disconnect", "--shop", shop.domain, "--yes")
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    shop = db.session.get(Shop, shop.id)
    assert not shop.is_active and shop.uninstalled_at is not None and shop.credentials == {}
    assert db.session.get(Message, waiting.id).status == "cancelled"
