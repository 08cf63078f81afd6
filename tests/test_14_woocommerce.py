"""Issue 14, points 2, 8, 9 and 14: WooCommerce's profile and carrier statuses, the checkout
box's honest text and its ledger entry, the bundled widget script, and credentials checked first."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connector import consent
from connector.extensions import db
from connector.models import ConsentEvent, Contact, Message, Shop, WhatsAppAccount
from connector.models.contacts import CONSENT_GRANTED
from connector.stores import woocommerce as wc_store
from connector.stores import woocommerce_catchup as wc_catchup
from tests.fakes.woocommerce import FakeWooCommerce
from tests.woocommerce_support import app_url, connected_shop, fresh_order, store  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parent.parent
HOOKS_TEST = ROOT / "tests" / "php" / "woocommerce_plugin_hooks_test.php"
PHP = shutil.which("php")
needs_php = pytest.mark.skipif(PHP is None, reason="php not installed: apt-get install php-cli")
GERMAN_BOX = "Schickt mir Angebote und Neuigkeiten per WhatsApp. Abmelden jederzeit mit der Antwort STOP."


def plugin_run(locale: str = "en_US") -> dict:
    """The plugin's main file under a stand-in WordPress: scripts, the checkout box, order meta."""
    result = subprocess.run([PHP, str(HOOKS_TEST), locale], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def run(ctx, monkeypatch):
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    runner = ctx.test_cli_runner()

    def invoke(*args: str):
        from connector.cli import cli

        result = runner.invoke(cli, list(args))
        db.session.expire_all()
        return result

    return invoke


def ready(shop: Shop, **settings) -> None:
    db.session.add(WhatsAppAccount(shop_id=shop.id, phone_number_id="1000001", access_token="EAAG-test",
                                   messaging_limit=1000))
    shop.settings = {"governor": {"quiet_hours": {"enabled": False}, "pair_interval_seconds": 0.2}, **settings}
    db.session.commit()


def sent(sandbox, template: str) -> list[dict]:
    return [m for m in sandbox.messages() if m["payload"].get("template", {}).get("name") == template]


# -- 9: the widget script is the plugin's own copy ------------------------------------------------

BUILT_WIDGET = ROOT / "connector" / "static" / "storefront" / "widget.js"
PLUGIN_WIDGET = ROOT / "integrations" / "woocommerce" / "wordpress-plugin" / "whatsapp-commerce-connector" / "assets"


@needs_php
def test_14_9_plugin_enqueues_its_bundled_widget_configured_for_its_own_rest_routes():
    # a configured plugin (connector URL and store key set) runs its wp_enqueue_scripts hooks
    assert (PLUGIN_WIDGET / "widget.js").read_bytes() == BUILT_WIDGET.read_bytes()  # make copies the build
    run = plugin_run()
    (handle,) = run["scripts"]
    script = run["scripts"][handle]
    # nothing loaded from the connector (WordPress.org: no remotely loaded code), deferred
    assert script["src"] == "https://shop.example/wp-content/plugins/whatsapp-commerce-connector/assets/widget.js"
    assert script["args"] == {"in_footer": True, "strategy": "defer"}
    ((position, code),) = run["inline"][handle]
    assert position == "before" and code.startswith("window.WhatsAppWidgetConfig = ")
    config = json.loads(code.removeprefix("window.WhatsAppWidgetConfig = ").rstrip(";"))
    routes = "https://shop.example/wp-json/whatsapp-commerce-connector/v1/storefront"
    assert config == {"shop": "store-key-1", "api": routes, "settingsUrl": routes + "/widget-settings",
                      "ui": "https://shop.example/wp-content/plugins/whatsapp-commerce-connector/assets/widget-ui.js",
                      "locale": "en-US"}


# -- 8: the box says what it does, and the ledger keeps it ------------------------------------------

@needs_php
def test_14_8_checkout_box_offers_marketing_in_the_shoppers_language():
    english, german = plugin_run("en_US"), plugin_run("de_DE")
    assert "offers and news on WhatsApp" in english["box"]
    assert "order and delivery updates" not in english["box"]
    assert GERMAN_BOX in german["box"]
    # the order keeps exactly the text shown and the shopper's locale
    assert german["order_meta"]["_wcc_consent_text"] == GERMAN_BOX
    assert german["order_meta"]["_wcc_locale"] == "de_DE"


def test_14_8_ledger_records_the_exact_text_shown_in_the_shoppers_language(app_url, store, drain, sandbox):  # noqa: F811
    shop = connected_shop(store)
    ready(shop)
    order = fresh_order(store, "order.updated__processing", billing={
        **fresh_order(store)["billing"], "phone": "0151 23456789", "country": "DE"},
        meta_data=[{"key": "_wcc_whatsapp_opt_in", "value": "yes"},
                   {"key": "_wcc_consent_text", "value": GERMAN_BOX},
                   {"key": "_wcc_locale", "value": "de_DE"}])
    store.deliver("order.updated", order)
    assert drain(lambda: len(sent(sandbox, "optin_confirmation")) == 1, timeout=20)
    entry = db.session.scalars(select(ConsentEvent).where(ConsentEvent.shop_id == shop.id,
                                                          ConsentEvent.purpose == "marketing")).one()
    assert (entry.state, entry.source, entry.text_shown) == ("pending", "checkout_checkbox", GERMAN_BOX)
    assert entry.evidence == {"locale": "de-DE"}
    # order updates need no box: the confirmation goes out on the transactional consent of the order
    assert len(sent(sandbox, "order_confirmation")) == 1


# -- 2: profile and carrier statuses -----------------------------------------------------------------

def test_14_2_store_profile_is_read_at_connect_and_on_every_catchup(app_url, store):  # noqa: F811
    shop = connected_shop(store)  # its set-up is the first catch-up
    db.session.refresh(shop)
    assert (shop.name, shop.time_zone, shop.locale, shop.country, shop.currency) == (
        "Kaffeerösterei M&M", "Europe/Berlin", "de-DE", "DE", "EUR")
    store.profile.update(name="Rösterei", timezone_string="", gmt_offset=-5, language="fr_FR",
                         default_country="FR", currency="CHF")
    assert wc_catchup.catch_up(shop.id)["outcome"] == "done"
    db.session.refresh(shop)
    assert (shop.name, shop.time_zone, shop.locale, shop.country, shop.currency) == (
        "Rösterei", "Etc/GMT+5", "fr-FR", "FR", "CHF")


@pytest.fixture
def ticking_store():
    """A store whose every save is a second later (a real store's date_modified moves on each
    save; the fake's clock has one-second steps, and three saves may fall in one second)."""
    moment = [datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)]

    def clock() -> datetime:
        moment[0] += timedelta(seconds=1)
        return moment[0]

    with FakeWooCommerce(clock=clock) as fake:
        yield fake


def test_14_2_carrier_statuses_send_out_for_delivery_delivered_and_the_review(app_url, ticking_store, drain, sandbox):
    store = ticking_store
    shop = connected_shop(store)
    ready(shop, automations={"review_request": {"enabled": True, "delay_seconds": 0,
                                                "review_url": f"{store.base_url}/review"}})
    order = fresh_order(store, "order.updated__processing", billing={
        **fresh_order(store)["billing"], "phone": "0151 23456789", "country": "DE"})
    tracking = {"key": "_wc_shipment_tracking_items", "value": [{
        "tracking_provider": "dhl", "tracking_number": "00340434161234567890", "tracking_id": "trk-9",
        "date_shipped": "1764000000"}]}
    # TrackShip's shipment_status meta, one entry per tracking item, its status_date the carrier's
    for hour, carrier_status in ((8, "in_transit"), (9, "out_for_delivery"), (11, "delivered")):
        changed = store.update_order(order["id"], status="completed", meta_data=[tracking, {
            "key": "shipment_status",
            "value": [{"status": carrier_status, "status_date": f"2026-12-01 {hour:02d}:00:00"}]}])
        store.deliver("order.updated", changed)
        if carrier_status == "out_for_delivery":
            assert drain(lambda: len(sent(sandbox, "shipping_out_for_delivery")) == 1, timeout=20)
            # the review request is marketing, as for Shopify: this shopper confirmed offers by WhatsApp
            contact = db.session.scalars(select(Contact).where(Contact.shop_id == shop.id)).one()
            consent.record(contact, consent.MARKETING, CONSENT_GRANTED, "double_opt_in", text_shown=GERMAN_BOX)
            db.session.commit()
    assert drain(lambda: len(sent(sandbox, "review_rating")) == 1, timeout=30)
    assert len(sent(sandbox, "shipping_delivered")) == 1
    db.session.refresh(shop)
    assert wc_store.shipment_statuses(shop)["reported"] is True  # the admin overview stops saying "none"
    rows = db.session.scalars(select(Message.template_name).where(Message.shop_id == shop.id)).all()
    assert rows.count("shipping_delivered") == 1 and rows.count("review_rating") == 1


def test_14_2_admin_overview_says_when_a_store_reports_no_shipment_statuses(app_url, store):  # noqa: F811
    shop = connected_shop(store)
    statuses = wc_store.shipment_statuses(shop)
    assert statuses["reported"] is False
    assert "has not reported any shipment status" in statuses["note"]


def test_14_2_ast_delivered_order_status_counts_as_delivered(app_url, store, drain, sandbox):  # noqa: F811
    shop = connected_shop(store)
    ready(shop)
    order = fresh_order(store, "order.updated__processing", billing={
        **fresh_order(store)["billing"], "phone": "0151 23456789", "country": "DE"})
    store.deliver("order.updated", store.update_order(order["id"], status="delivered"))
    assert drain(lambda: len(sent(sandbox, "shipping_delivered")) == 1, timeout=20)


# -- 14: credentials checked before they are stored --------------------------------------------------

def test_14_14_shopify_token_refused_stores_nothing(run, fake_shopify):
    result = run("shops", "add", "shopify", "--domain", "demo", "--access-token", "shpat_refused")
    assert result.exit_code != 0
    assert "refused" in result.output
    assert db.session.scalar(select(func.count()).select_from(Shop)) == 0


def test_14_14_shopify_token_that_works_is_stored_with_the_next_step(run, fake_shopify):
    token = fake_shopify.issue_token(expiring=False).access_token
    result = run("shops", "add", "shopify", "--domain", "demo", "--access-token", token, "--no-subscribe")
    assert result.exit_code == 0, result.output
    shop = db.session.scalars(select(Shop)).one()
    assert f"connector whatsapp set --shop {shop.id}" in result.output


def test_14_14_woocommerce_keys_that_do_not_work_store_nothing(run, store):  # noqa: F811
    result = run("shops", "add", "woocommerce", "--url", store.base_url, "--consumer-key", "ck_made_up",
                 "--consumer-secret", "cs_made_up")
    assert result.exit_code != 0
    assert "does not accept these keys" in result.output and "nothing was stored" in result.output
    assert db.session.scalar(select(func.count()).select_from(Shop)) == 0


def test_14_14_woocommerce_keys_that_work_print_the_next_step(run, store):  # noqa: F811
    key, secret = store.issue_keys()
    result = run("shops", "add", "woocommerce", "--url", store.base_url, "--consumer-key", key,
                 "--consumer-secret", secret)
    assert result.exit_code == 0, result.output
    shop = db.session.scalars(select(Shop)).one()
    assert shop.sync_state["verified_at"] and shop.name == "Kaffeerösterei M&M" and shop.currency == "EUR"
    assert f"connector shops plugin-settings --shop {shop.id}" in result.output


def test_14_14_no_verify_stores_an_offline_store_unchecked(run):
    result = run("shops", "add", "woocommerce", "--url", "https://store.example", "--consumer-key", "ck_a",
                 "--consumer-secret", "cs_b", "--no-verify")
    assert result.exit_code == 0, result.output
    assert "keys not verified" in result.output
    assert db.session.scalars(select(Shop)).one().credentials == {"consumer_key": "ck_a", "consumer_secret": "cs_b"}


def test_14_2_trackship_statuses_in_the_fixture_map_to_neutral_statuses():
    from connector.events import FulfillmentStatus
    from connector.stores.context import ShopContext
    from integrations.woocommerce import webhooks
    from tests.woocommerce_support import fixture

    events = webhooks.parse("order.updated", fixture("order.updated__trackship_statuses"),
                            ShopContext(Shop(platform="woocommerce", domain="https://example.com", country="US")))
    shipments = [(e.tracking_numbers, e.status, e.occurred_at.isoformat())
                 for e in events if hasattr(e, "tracking_numbers")]
    assert shipments == [(("9400111899223344556677",), FulfillmentStatus.DELIVERED, "2017-03-24T09:12:44+00:00"),
                         (("DR157XBLJS584",), FulfillmentStatus.OUT_FOR_DELIVERY, "2017-03-23T16:40:02+00:00")]
    # without TrackShip's meta the same order only says "shipped"
    plain = webhooks.parse("order.updated", fixture("order.updated__completed_with_tracking"),
                           ShopContext(Shop(platform="woocommerce", domain="https://example.com", country="US")))
    assert {e.status for e in plain if hasattr(e, "tracking_numbers")} == {FulfillmentStatus.SHIPPED}
