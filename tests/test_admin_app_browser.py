"""The admin app (frontend/, built into connector/static/admin/) in a real browser: headless
Debian Chromium, App Bridge stood in for at the window edge (tests/browser.py), the WordPress
plugin's page played by a page of the test at the store's origin with the plugin's own script.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from connector import shop_settings
from connector.extensions import db
from connector.models import Message, SettingsChange, Shop
from tests.automation_events import apply, checkout, now, timedelta
from tests.browser import APP_BRIDGE_URL, app_bridge_stand_in, browser, page  # noqa: F401 (fixtures)
from tests.factories import make_contact
from tests.test_admin_dashboard import seed, seeded_shop
from tests.test_admin_settings import connected_shop
from tests.test_admin_woocommerce import mint, woo_shop

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
PLUGIN_SCRIPT = ROOT / "integrations/woocommerce/wordpress-plugin/whatsapp-commerce-connector/assets/admin-app.js"
PAGES = ("home", "automations", "campaigns", "dashboard", "templates", "contacts", "messages", "settings")
DEFAULT_CART_DELAYS = [3600, 86400, 3 * 86400]
#: the WordPress store (its pages are the test's stand-ins)
STORE_URL = "https://store.example"

#: App Bridge's save bar API, recording what the app asks of it
SAVE_BAR_STAND_IN = """
  window.__saveBar = [];
  window.shopify.saveBar = {
    show: async (id) => { window.__saveBar.push(["show", id]); },
    hide: async (id) => { window.__saveBar.push(["hide", id]); },
  };
"""


def open_in_shopify(page, client, fake_shopify, name: str) -> Shop:
    """The app as the Shopify admin opens it, on page ``name``; the shop installed first."""
    token = fake_shopify.session_token(lifetime=600)
    assert client.get("/admin/api/shop", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    page.stand_ins[APP_BRIDGE_URL] = ("text/javascript", app_bridge_stand_in(token) + SAVE_BAR_STAND_IN)
    page.goto(f"/admin/?shop={fake_shopify.shop_domain}&host=YWRtaW4&page={name}")
    return db.session.query(Shop).filter_by(domain=fake_shopify.shop_domain).one()


def stored_cart_delays(shop: Shop) -> list[int]:
    db.session.expire_all()
    return shop_settings.effective(db.session.get(Shop, shop.id))["automations"]["abandoned_cart"]["delays_seconds"]


def settings_changes(shop: Shop) -> int:
    return db.session.scalar(select(func.count()).select_from(SettingsChange).where(SettingsChange.shop_id == shop.id))


def test_16_first_cart_delay_set_to_30_minutes_saved_with_the_save_bar(page, client, fake_shopify):
    """Set in the page, saved with the save bar, seen after a reload; the next cart's first
    reminder is due 30 minutes after its checkout started."""
    make_contact(connected_shop(fake_shopify, phone_number_id="5000003"), "+4915123456789")
    shop = open_in_shopify(page, client, fake_shopify, "settings")
    first = page.get_by_label("Reminder 1", exact=True)
    first.wait_for(timeout=15000)
    assert first.input_value() == "1"
    assert page.get_by_label("Unit of Reminder 1").input_value() == "hours"

    first.fill("30")
    page.get_by_label("Unit of Reminder 1").select_option("minutes")
    assert ["show", "wcc-settings-save-bar"] in page.evaluate("window.__saveBar")
    page.locator("ui-save-bar").get_by_role("button", name="Save").click()
    page.get_by_text("Settings saved").wait_for(timeout=15000)

    assert stored_cart_delays(shop) == [1800, 86400, 3 * 86400]
    assert page.evaluate("window.__saveBar")[-1] == ["hide", "wcc-settings-save-bar"]
    page.get_by_text("automations.abandoned_cart.delays_seconds").wait_for(timeout=15000)  # the change history

    page.reload()
    first = page.get_by_label("Reminder 1", exact=True)
    first.wait_for(timeout=15000)
    assert first.input_value() == "30"
    assert page.get_by_label("Unit of Reminder 1").input_value() == "minutes"
    assert page.get_by_label("Reminder 2", exact=True).input_value() == "1"
    assert page.get_by_label("Unit of Reminder 2").input_value() == "days"

    db.session.expire_all()
    started = now()
    apply(db.session.get(Shop, shop.id), checkout("cart-after-the-page", at=started))
    first_step = db.session.scalars(select(Message).where(Message.shop_id == shop.id,
                                                          Message.automation == "abandoned_cart")
                                    .order_by(Message.id)).first()
    assert abs(first_step.due_at - (started + timedelta(minutes=30))) < timedelta(seconds=2)


def test_16_an_invalid_delay_shows_the_fields_error_and_saves_nothing(page, client, fake_shopify):
    shop = open_in_shopify(page, client, fake_shopify, "settings")
    first = page.get_by_label("Reminder 1", exact=True)
    first.wait_for(timeout=15000)
    first.fill("5")
    page.get_by_label("Unit of Reminder 1").select_option("minutes")
    page.locator("ui-save-bar").get_by_role("button", name="Save").click()

    steps = page.locator("#setting-automations-abandoned_cart-delays_seconds")
    steps.get_by_text("The first step must be at least 15 minutes").wait_for(timeout=15000)
    assert page.get_by_text("Some settings need a change").is_visible()
    assert stored_cart_delays(shop) == DEFAULT_CART_DELAYS
    assert settings_changes(shop) == 0
    assert page.get_by_text("Settings saved").count() == 0


def test_16_inside_a_wordpress_page_the_app_uses_the_plugins_token(page, ctx):
    """The plugin's menu page: its own admin-app.js, a token route answering for the nonce;
    the app asks its parent for a token and sends it as its bearer; the settings save."""
    shop = woo_shop(domain=STORE_URL)
    base = ctx.config["TEST_BASE_URL"]
    token = mint(iss=STORE_URL)
    token_url = f"{STORE_URL}/wp-json/whatsapp-commerce-connector/v1/admin-token"
    admin_url = f"{STORE_URL}/wp-admin/admin.php?page=wcc-whatsapp"
    frame_src = f"{base}/admin/?platform=woocommerce&store={quote(STORE_URL, safe='')}&locale=de_DE&page=settings"
    config = json.dumps({"connectorOrigin": base, "tokenUrl": token_url, "nonce": "nonce-1"})
    page.stand_ins[admin_url] = ("text/html", f"""<!doctype html><html lang="en"><head><title>WhatsApp</title></head>
      <body><h1>WhatsApp</h1><iframe id="wcc-admin-app" title="WhatsApp" src="{frame_src}"
      style="width:1200px;height:2400px;border:0"></iframe>
      <script>window.wccAdminApp = {config};</script>
      <script src="{STORE_URL}/plugin/admin-app.js"></script></body></html>""")
    page.stand_ins[f"{STORE_URL}/plugin/admin-app.js"] = ("text/javascript", PLUGIN_SCRIPT.read_text())
    page.stand_ins[token_url] = ("application/json", json.dumps({"token": token, "expires_at": int(time.time()) + 300}))
    bearers = []
    page.on("request", lambda request: request.url.startswith(f"{base}/admin/api/")
            and bearers.append(request.headers.get("authorization")))

    page.goto(admin_url)
    app = page.frame_locator("#wcc-admin-app")
    first = app.get_by_label("Erinnerung 1", exact=True)
    first.wait_for(timeout=15000)
    assert app.get_by_role("tab", name="Einstellungen").is_visible()  # Polaris tabs, German from locale=de_DE
    assert bearers and set(bearers) == {f"Bearer {token}"}

    first.fill("45")
    app.get_by_label("Einheit von Erinnerung 1").select_option("minutes")
    app.get_by_role("button", name="Speichern").click()  # Polaris's contextual save bar
    app.get_by_text("Einstellungen gespeichert").wait_for(timeout=15000)
    assert stored_cart_delays(shop) == [2700, 86400, 3 * 86400]
    change = db.session.scalars(select(SettingsChange).where(SettingsChange.shop_id == shop.id)).one()
    assert change.changed_by == "wordpress:7"  # the WordPress user the plugin minted the token for



def test_16_a_token_from_another_window_is_not_taken(page, ctx):
    """The store's page frames the app and, beside it, a page of another origin that pushes
    tokens at the app: the app takes none (neither its parent nor the store's origin), so no
    API request carries the forged token."""
    woo_shop(domain=STORE_URL)
    base = ctx.config["TEST_BASE_URL"]
    store_page = f"{STORE_URL}/wp-admin/admin.php?page=wcc-whatsapp"
    evil = "https://attacker.example/evil"
    frame_src = f"{base}/admin/?platform=woocommerce&store={quote(STORE_URL, safe='')}&page=settings"
    page.stand_ins[store_page] = ("text/html", f"""<!doctype html><html lang="en"><head><title>x</title></head><body>
      <iframe id="app" title="app" src="{frame_src}"></iframe><iframe title="ad" src="{evil}"></iframe>
      </body></html>""")
    page.stand_ins[evil] = ("text/html", """<!doctype html><html><body><script>
      setInterval(() => parent.frames[0].postMessage(
        {type: "wcc:token", id: 1, token: "forged", expires_at: Date.now() / 1000 + 300}, "*"), 50);
      </script></body></html>""")
    bearers = []
    page.on("request", lambda request: request.url.startswith(f"{base}/admin/api/")
            and bearers.append(request.headers.get("authorization")))
    page.goto(store_page)
    page.frame_locator("#app").get_by_role("tab", name="Settings").wait_for(timeout=15000)  # the app runs
    page.wait_for_timeout(2000)
    assert bearers == []


def run_axe(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => {
      const result = await axe.run(document, {resultTypes: ["violations"]});
      return {passes: result.passes.length,
              violations: result.violations.map((v) => ({id: v.id, impact: v.impact,
                                                         nodes: v.nodes.map((n) => n.target)}))};
    }""")
    assert found["passes"] > 10  # the scan ran over a rendered page
    return [violation for violation in found["violations"] if violation["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("name", PAGES)
def test_16_axe_finds_no_serious_or_critical_violation(page, client, fake_shopify, name):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: make builds the front end (npm ci in frontend/)")
    open_in_shopify(page, client, fake_shopify, name)
    page.locator("main h1").wait_for(timeout=15000)
    page.wait_for_function("!document.querySelector('main .Polaris-Spinner')", timeout=15000)
    assert run_axe(page) == []


def focus_trail(page, presses: int) -> list[dict]:
    trail = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        trail.append(page.evaluate("""() => {
          const el = document.activeElement;
          return {tag: el.tagName, id: el.id, text: (el.innerText || el.getAttribute("aria-label") || "").trim()};
        }"""))
    return trail


def test_16_nav_and_settings_are_reachable_and_savable_by_keyboard(page, client, fake_shopify):
    shop = open_in_shopify(page, client, fake_shopify, "settings")
    page.get_by_label("Reminder 1", exact=True).wait_for(timeout=15000)
    trail = focus_trail(page, 40)
    links = [step["text"] for step in trail if step["tag"] == "A" and step["text"] != "Skip to content"]
    assert links[:8] == ["Home", "Automations", "Campaigns", "Dashboard", "Templates", "Contacts", "Messages",
                         "Settings"]
    ids = [step["id"] for step in trail]
    assert "Save" not in [step["text"] for step in trail]  # no save bar before a change
    order = "setting-automations-order_confirmation-"
    assert ids.index(order + "enabled") < ids.index(order + "trigger")
    first_step = "setting-automations-abandoned_cart-delays_seconds-0"
    while page.evaluate("document.activeElement.id") != first_step:
        page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("20")
    page.keyboard.press("Tab")  # the unit: hours → minutes with the keyboard
    page.keyboard.press("ArrowUp")
    for _ in range(60):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.closest('ui-save-bar') && document.activeElement.innerText") == "Save":
            break
    assert page.evaluate("document.activeElement.innerText") == "Save"
    page.keyboard.press("Enter")
    page.get_by_text("Settings saved").wait_for(timeout=15000)
    assert stored_cart_delays(shop) == [1200, 86400, 3 * 86400]


def test_16_dashboard_draws_charts_from_seeded_data_and_its_table_shows_the_same_numbers(page, client, fake_shopify):
    """The daily rollups seeded as tests/test_admin_dashboard.py does; the real GET /dashboard."""
    shop, today = seeded_shop(fake_shopify)
    seed(shop, today, "abandoned_cart", "cost", 10, dimension="USD", amount="1.5020")
    db.session.commit()
    open_in_shopify(page, client, fake_shopify, "dashboard")
    page.get_by_test_id("chart-messages-chart").locator("svg").first.wait_for(timeout=15000)
    for chart in ("chart-revenue", "chart-consent", "chart-trouble"):
        assert page.get_by_test_id(f"{chart}-chart").locator("svg").count() > 0, chart

    page.locator("#chart-messages-body").locator("..").get_by_role("button", name="Show as table").click()
    rows = page.get_by_test_id("chart-messages-table").locator("tbody tr")
    assert rows.count() == 30  # 30 days by default
    cells = {row.locator("th, td").first.inner_text(): row.locator("th, td").all_inner_texts()[1:]
             for row in rows.all()}
    # sent, delivered, read, clicked, orders per day, both automations added up
    assert cells[today.isoformat()] == ["13", "11", "5", "2", "2"]
    assert cells[(today - timedelta(days=1)).isoformat()] == ["10", "8", "5", "2", "1"]
    assert cells[(today - timedelta(days=20)).isoformat()] == ["0", "0", "0", "0", "0"]

    page.get_by_role("button", name="7 days").click()
    page.wait_for_function("document.querySelectorAll('[data-testid=chart-messages-table] tbody tr').length === 7")
    assert page.get_by_text("Revenue per recipient").is_visible()
    # the estimated cost beside the revenue, per automation (a EUR shop: no revenue per USD spent)
    assert page.get_by_role("heading", name="Cost and revenue per automation").is_visible()
    cost_row = page.get_by_role("row").filter(has_text="$1.502")
    assert cost_row.count() == 1 and "–" in cost_row.inner_text()


def test_16_contacts_search_export_download_and_forget_with_confirmation(page, client, fake_shopify):
    shop = connected_shop(fake_shopify, phone_number_id="5000003")
    contact = make_contact(shop, "+4915123456789", name="Maria Muster")
    make_contact(shop, "+4915199999999", name="Otto Other")
    open_in_shopify(page, client, fake_shopify, "contacts")
    page.get_by_text("Otto Other").wait_for(timeout=15000)  # the list before a search: both
    page.get_by_label("Search contacts").fill("Maria")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_text("Otto Other").wait_for(state="detached", timeout=15000)
    assert page.get_by_role("button", name="Open Maria Muster").is_visible()
    page.get_by_role("button", name="Open Maria Muster").click()
    page.get_by_role("heading", name="Consent history").wait_for(timeout=15000)

    with page.expect_download(timeout=15000) as info:
        page.get_by_role("button", name="Download the contact's data").click()
    with open(info.value.path()) as handle:
        assert "+4915123456789" in handle.read()  # the export's JSON, fetched with the bearer

    page.get_by_role("button", name="Forget this contact").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Type +4915123456789 to confirm").fill("+49 151 0000000")
    dialog.get_by_role("button", name="Forget this contact").click()
    dialog.get_by_text("That is not the contact's phone number.").wait_for(timeout=15000)
    db.session.expire_all()
    assert db.session.get(type(contact), contact.id).phone_e164 == "+4915123456789"  # nothing erased

    dialog.get_by_label("Type +4915123456789 to confirm").fill("+49 151 23456789")
    dialog.get_by_role("button", name="Forget this contact").click()
    page.get_by_text("The contact has been forgotten.").wait_for(timeout=15000)
    db.session.expire_all()
    assert db.session.get(type(contact), contact.id).phone_e164 is None


def test_16_messages_csv_export_downloads_with_the_bearer(page, client, fake_shopify):
    open_in_shopify(page, client, fake_shopify, "messages")
    page.get_by_role("button", name="Export messages (CSV)").wait_for(timeout=15000)
    with page.expect_download(timeout=15000) as info:
        page.get_by_role("button", name="Export messages (CSV)").click()
    assert info.value.suggested_filename == "messages.csv"
    with open(info.value.path()) as handle:
        assert handle.readline().strip() == "id,contact_id,phone,automation,template,status,reason,due_at,sent_at," \
                                            "delivered_at,read_at,error"
