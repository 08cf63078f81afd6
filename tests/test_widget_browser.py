"""The storefront widget in a real browser (headless Chromium): a sample product page of a shop
at its own origin (answered by the test at the browser's edge) loads the built widget.js from
the app under test, with the app's /storefront/api as its API, so every call is the real
cross-origin one (CORS for the shop's own origin) and the double opt-in goes to the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from connector.extensions import db
from connector.models import ConsentEvent, Contact, StockSubscription
from tests.browser import browser, page  # noqa: F401 (fixtures)
from tests.factories import make_shop

ROOT = Path(__file__).resolve().parent.parent
WIDGET = ROOT / "connector" / "static" / "storefront" / "widget.js"
AXE = ROOT / "widget" / "node_modules" / "axe-core" / "axe.min.js"
JQUERY = ROOT / "widget" / "node_modules" / "jquery" / "dist" / "jquery.min.js"
SHOP_DOMAIN = "widget-shop.myshopify.com"
STORE = f"https://{SHOP_DOMAIN}"
PRODUCT_URL = f"{STORE}/products/becher-blau"
GERMAN_CONSENT = ("Ja, schickt mir Angebote und Neuigkeiten per WhatsApp. Ich kann mich jederzeit mit der "
                  "Antwort STOP abmelden.")



@pytest.fixture(autouse=True)
def built_widget() -> None:
    if not WIDGET.is_file() or not AXE.is_file():  # make test builds it: missing is a failure here
        pytest.fail("the widget is not built: run make (it builds widget/ into connector/static/storefront)")

PAGE = """<!doctype html>
<html lang="de"><head><meta charset="utf-8"><title>Becher Blau – Widget Shop</title>
<meta property="og:type" content="product"><meta property="og:title" content="Becher Blau"></head>
<body><main><h1>Becher Blau</h1>
<form action="/cart/add" method="post">
  <label for="variant">Größe</label>
  <select id="variant" name="id">
    <option value="111">Klein</option><option value="222">Groß (ausverkauft)</option>
  </select>
  <button type="submit">In den Warenkorb</button>
</form>
<div data-whatsapp-notify-me></div>
<p>Ein blauer Becher aus Steingut.</p></main>
<script src="{base}/storefront/widget.js" data-shop="{shop_key}" data-api="{base}/storefront/api"
  data-locale="de" data-country="DE" data-product-id="9001"
  data-variants='[{{"id":"111","available":true}},{{"id":"222","available":false}}]' defer></script>
</body></html>"""


def widget_shop(*, popup: bool = True):
    shop = make_shop(SHOP_DOMAIN, settings={
        "governor": {"quiet_hours": {"enabled": False}},
        "storefront": {"enabled": True, "popup": {"enabled": popup, "trigger": "delay", "delay_seconds": 3}},
    })
    shop.country = "DE"
    shop.whatsapp.display_phone_number = "+49 30 1234567"
    db.session.commit()
    return shop


def open_product_page(page, shop) -> None:
    page.stand_ins[PRODUCT_URL] = ("text/html", PAGE.format(base=page.app_base, shop_key=shop.shop_key))
    page.goto(PRODUCT_URL)


@pytest.fixture
def store_page(page, ctx):
    page.app_base = ctx.config["TEST_BASE_URL"]
    # the shop's page is on the internet and the app on this machine: Chromium asks the shopper
    # before a public page may reach a loopback address; in production both are public
    page.context.grant_permissions(["local-network-access"], origin=STORE)
    # what the chat button would open: recorded, not followed (wa.me is not on this machine)
    page.add_init_script("""
      addEventListener('click', (event) => {
        const link = event.composedPath().find((node) => node.tagName === 'A' && node.href.startsWith('https://wa.me/'));
        if (link) { window.__opened = link.href; event.preventDefault(); }
      });
    """)
    return page


def drained(app_env, condition, timeout: float = 45.0) -> bool:
    """Burst workers in a subprocess until ``condition()`` holds: the in-process worker cannot
    run here (its dispatcher's ``asyncio.run()`` refuses to start under Playwright's loop, and
    RQ sets signal handlers, which only the main thread may)."""
    connector = str(Path(sys.executable).with_name("connector"))
    deadline = time.monotonic() + timeout
    while True:
        subprocess.run([connector, "worker", "--burst"], env={**os.environ, **app_env, "LOG_LEVEL": "WARNING"},
                       check=True, timeout=60, capture_output=True)
        db.session.expire_all()
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def dialog(page):
    return page.locator("dialog[open]")


def test_chat_button_opens_wa_me_with_the_product_in_the_text(store_page):
    shop = widget_shop(popup=False)
    open_product_page(store_page, shop)
    button = store_page.get_by_role("link", name="Chatte mit uns auf WhatsApp")
    button.click(timeout=15000)
    opened = urlsplit(store_page.evaluate("window.__opened"))
    assert (opened.scheme, opened.netloc, opened.path) == ("https", "wa.me", "/49301234567")
    assert parse_qs(opened.query)["text"] == [f"Hallo! Ich habe eine Frage zu Becher Blau: {PRODUCT_URL}"]
    # fixed in a corner: the page's own layout is untouched
    assert button.evaluate("(node) => getComputedStyle(node).position") == "fixed"


def test_popup_appears_once_and_a_german_mobile_gets_the_double_opt_in(store_page, app_env, sandbox):
    shop = widget_shop()
    open_product_page(store_page, shop)
    dialog(store_page).wait_for(timeout=15000)
    assert store_page.get_by_role("dialog").get_attribute("aria-labelledby")
    store_page.get_by_label("WhatsApp-Nummer").fill("0151 23456789")
    assert store_page.get_by_label("Land").input_value() == "DE"
    store_page.get_by_role("button", name="Abonnieren").click()
    store_page.get_by_text("Schau in WhatsApp").wait_for(timeout=10000)

    assert drained(app_env, lambda: len(sandbox.messages()) == 1)
    (sent,) = sandbox.messages()
    assert sent["type"] == "template" and sent["payload"]["template"]["name"] == "optin_confirmation"
    assert sent["payload"]["to"].lstrip("+") == "4915123456789"
    contact = db.session.scalars(select(Contact).where(Contact.shop_id == shop.id)).one()
    (event,) = db.session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact.id)).all()
    assert (event.source, event.text_shown) == ("widget_popup", GERMAN_CONSENT)

    # the browser keeps when the popup was shown, nothing about the shopper; no cookie
    stored = store_page.evaluate("JSON.stringify(Object.assign({}, localStorage))")
    assert "151" not in stored and "popup" in stored
    assert store_page.context.cookies() == []
    # once per frequency_days: the next page view shows no popup
    store_page.goto(PRODUCT_URL)
    store_page.get_by_role("link", name="Chatte mit uns auf WhatsApp").wait_for(timeout=15000)
    store_page.wait_for_timeout(4500)
    assert dialog(store_page).count() == 0


def test_a_landline_gets_the_field_error_in_german_and_nothing_is_stored(store_page, sandbox):
    shop = widget_shop()
    open_product_page(store_page, shop)
    dialog(store_page).wait_for(timeout=15000)
    phone = store_page.get_by_label("WhatsApp-Nummer")
    phone.fill("030 12345678")
    store_page.get_by_role("button", name="Abonnieren").click()
    error = store_page.get_by_role("alert")
    error.filter(has_text="Festnetz").wait_for(timeout=10000)
    assert phone.get_attribute("aria-invalid") == "true"
    assert phone.input_value() == "030 12345678"  # the shopper can correct it
    assert db.session.scalars(select(Contact).where(Contact.shop_id == shop.id)).first() is None
    assert sandbox.messages() == []


def test_notify_me_shows_only_for_a_sold_out_variant_and_follows_changes(store_page):
    shop = widget_shop(popup=False)
    open_product_page(store_page, shop)
    store_page.get_by_role("link", name="Chatte mit uns auf WhatsApp").wait_for(timeout=15000)
    notify = store_page.get_by_role("button", name="Per WhatsApp benachrichtigen")
    assert notify.count() == 0  # the first variant is in stock: no form, not even the chunk
    store_page.select_option("#variant", "222")
    notify.wait_for(timeout=10000)
    store_page.select_option("#variant", "111")
    notify.wait_for(state="hidden", timeout=5000)
    store_page.evaluate("document.dispatchEvent(new CustomEvent('variant:change', "
                        "{detail: {variant: {id: 333, available: false}}}))")
    notify.wait_for(timeout=5000)
    store_page.evaluate("window.WhatsAppWidget.setVariant({id: '111', available: true})")
    notify.wait_for(state="hidden", timeout=5000)
    store_page.select_option("#variant", "222")
    store_page.get_by_label("WhatsApp-Nummer").fill("+49 151 23456789")
    notify.click()
    store_page.get_by_text("Erledigt!").wait_for(timeout=10000)
    (subscription,) = db.session.scalars(select(StockSubscription)
                                         .where(StockSubscription.shop_id == shop.id)).all()
    assert (subscription.variant_id, subscription.product_id) == ("222", "9001")


WOO_PAGE = """<!doctype html>
<html lang="de"><head><meta charset="utf-8"><title>Becher – Woo</title>
<script src="{store}/wp-includes/js/jquery/jquery.min.js"></script></head>
<body><main><h1>Becher</h1>
<form class="variations_form cart" action="{store}/products/becher" method="post">
  <select id="pa_groesse" name="attribute_pa_groesse"><option value="klein">Klein</option>
    <option value="gross">Groß</option></select>
  <input type="hidden" name="variation_id" value="0">
  <button type="submit">In den Warenkorb</button>
</form>
<div data-whatsapp-notify-me></div></main>
<script src="{base}/storefront/widget.js" data-shop="{shop_key}" data-api="{base}/storefront/api"
  data-locale="de" data-country="DE" data-product-id="9001" defer></script>
<script>
  // what WooCommerce's add-to-cart-variation.js does when a choice matches a variation
  jQuery("#pa_groesse").on("change", function () {{
    var soldOut = this.value === "gross";
    jQuery(this.form).find("[name=variation_id]").val(soldOut ? "502" : "501");
    jQuery(this.form).trigger("found_variation", [{{variation_id: soldOut ? 502 : 501, is_in_stock: !soldOut}}]);
  }});
</script>
</body></html>"""


def test_notify_me_follows_woocommerces_variation_form(store_page):
    """WooCommerce says which variation was chosen only through jQuery (found_variation)."""
    shop = widget_shop(popup=False)
    store_page.stand_ins[f"{STORE}/wp-includes/js/jquery/jquery.min.js"] = ("text/javascript", JQUERY.read_text())
    store_page.stand_ins[f"{STORE}/products/becher"] = (
        "text/html", WOO_PAGE.format(store=STORE, base=store_page.app_base, shop_key=shop.shop_key))
    store_page.goto(f"{STORE}/products/becher")
    store_page.get_by_role("link", name="Chatte mit uns auf WhatsApp").wait_for(timeout=15000)
    notify = store_page.get_by_role("button", name="Per WhatsApp benachrichtigen")
    store_page.select_option("#pa_groesse", "gross")
    notify.wait_for(timeout=10000)
    store_page.select_option("#pa_groesse", "klein")
    notify.wait_for(state="hidden", timeout=5000)
    store_page.select_option("#pa_groesse", "gross")
    store_page.get_by_label("WhatsApp-Nummer").fill("+49 151 23456789")
    notify.click()
    store_page.get_by_text("Erledigt!").wait_for(timeout=10000)
    (subscription,) = db.session.scalars(select(StockSubscription)
                                         .where(StockSubscription.shop_id == shop.id)).all()
    assert subscription.variant_id == "502"


def test_keyboard_only_the_popup_keeps_focus_escape_closes_and_focus_returns(store_page):
    shop = widget_shop()
    open_product_page(store_page, shop)
    store_page.focus("#variant")
    dialog(store_page).wait_for(timeout=15000)
    in_dialog = ("() => { const host = document.activeElement; const inner = host && host.shadowRoot"
                 " && host.shadowRoot.activeElement; return Boolean(inner && inner.closest('dialog')); }")
    assert store_page.evaluate(in_dialog)
    for _ in range(8):  # past the last control and round again: focus never leaves the dialog
        store_page.keyboard.press("Tab")
        assert store_page.evaluate(in_dialog)
    for _ in range(3):
        store_page.keyboard.press("Shift+Tab")
        assert store_page.evaluate(in_dialog)
    store_page.keyboard.press("Escape")
    dialog(store_page).wait_for(state="hidden", timeout=5000)
    assert store_page.evaluate("document.activeElement.id") == "variant"
    # the chat button is reachable and opens by keyboard
    for _ in range(4):
        store_page.keyboard.press("Tab")
        if store_page.evaluate("document.activeElement.hasAttribute('data-whatsapp-widget')"):
            break
    store_page.keyboard.press("Enter")
    assert store_page.evaluate("window.__opened").startswith("https://wa.me/49301234567?text=")


def test_axe_finds_no_serious_or_critical_violation(store_page):
    shop = widget_shop()
    open_product_page(store_page, shop)
    store_page.select_option("#variant", "222")  # the notify-me form too
    dialog(store_page).wait_for(timeout=15000)
    store_page.get_by_role("button", name="Per WhatsApp benachrichtigen").wait_for(state="attached")
    store_page.add_script_tag(path=str(AXE))
    results = store_page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]}
               for v in results["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == [], json.dumps(serious)
    assert results["passes"] or results["incomplete"] is not None


def test_the_rate_limit_is_said_next_to_the_field_in_german(store_page, client):
    shop = widget_shop()
    for number in range(5):  # five sign-ups from this address (the browser's too) use up its limit
        response = client.post("/storefront/api/opt-in", json={
            "shop_key": shop.shop_key, "phone": f"+491512345670{number}", "consent_text": GERMAN_CONSENT,
            "country": "DE"})
        assert response.status_code == 202, response.get_json()
    open_product_page(store_page, shop)
    dialog(store_page).wait_for(timeout=15000)
    store_page.get_by_label("WhatsApp-Nummer").fill("0151 99999999")
    store_page.get_by_role("button", name="Abonnieren").click()
    store_page.get_by_role("alert").filter(has_text="Zu viele Versuche").wait_for(timeout=10000)
    assert store_page.get_by_label("WhatsApp-Nummer").input_value() == "0151 99999999"
    assert db.session.scalars(select(Contact).where(Contact.phone_e164 == "+4915199999999")).first() is None
