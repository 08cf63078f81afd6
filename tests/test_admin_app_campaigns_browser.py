"""The admin app's campaigns and the editor of the shop's own templates in a real browser:
headless Debian Chromium (tests/browser.py), the real server and PostgreSQL, burst workers in a
subprocess (tests/test_widget_browser.py's ``drained``: the in-process worker cannot run under
Playwright's loop), the Cloud API played by the sandbox."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from connector.extensions import db
from connector.models import Campaign, ShopTemplate
from tests.browser import browser, page  # noqa: F401 (fixtures)
from tests.factories import make_contact
from tests.test_admin_app_browser import AXE, focus_trail, open_in_shopify, run_axe
from tests.test_admin_settings import auth, connected_shop
from tests.test_widget_browser import drained

QUIET_HOURS_OFF = {"governor": {"quiet_hours": {"enabled": False}}}
WAIT = 15000


def shop_with_contacts(fake_shopify):
    shop = connected_shop(fake_shopify, phone_number_id="5000003", messaging_limit=250, settings=QUIET_HOURS_OFF)
    make_contact(shop, "+4915100000001", name="Anna")
    make_contact(shop, "+4915100000002", name="Bert")
    austrian = make_contact(shop, "+4366400000003", name="Clara")
    austrian.country = "AT"
    make_contact(shop, "+4915100000004", name="Dora", marketing=False)  # matches the country, not the consent
    db.session.commit()
    return shop


def campaigns() -> list[Campaign]:
    db.session.expire_all()
    return db.session.scalars(select(Campaign).order_by(Campaign.id)).all()


def test_campaign_from_the_form_live_count_422_start_pause_resume_done_and_report(page, client, fake_shopify,
                                                                                   sandbox, app_env):
    shop_with_contacts(fake_shopify)
    open_in_shopify(page, client, fake_shopify, "campaigns")
    page.get_by_text("No campaigns yet.").wait_for(timeout=WAIT)
    page.get_by_role("button", name="Create campaign").first.click()

    page.get_by_label("Campaign name").fill("Autumn")
    page.get_by_label("Template", exact=True).select_option("campaign_announcement")
    offer = page.get_by_label("Value of offer")
    offer.wait_for(timeout=WAIT)  # the template's own variable; customer_name and shop_name are not asked
    assert page.get_by_label("Value of customer_name").count() == 0
    count = page.get_by_test_id("segment-count")
    count.get_by_text("3 contacts match").wait_for(timeout=WAIT)  # no condition yet: everyone with consent
    page.get_by_label("Countries").fill("de")
    count.get_by_text("2 contacts match").wait_for(timeout=WAIT)
    page.get_by_label("Orders, at least").fill("1")
    count.get_by_text("0 contacts match").wait_for(timeout=WAIT)
    page.get_by_label("Orders, at least").fill("")
    count.get_by_text("2 contacts match").wait_for(timeout=WAIT)

    page.get_by_role("button", name="Create campaign").last.click()  # the offer left empty
    error = page.locator("#variable-offerError")
    error.get_by_text("campaign_announcement needs offer.").wait_for(timeout=WAIT)
    assert "variable-offerError" in offer.get_attribute("aria-describedby")  # the field says it of itself
    assert campaigns() == []

    offer.fill("the autumn blend is back")
    page.get_by_role("button", name="Create campaign").last.click()
    page.get_by_role("heading", name="Autumn").wait_for(timeout=WAIT)
    page.get_by_text("Draft", exact=True).wait_for(timeout=WAIT)
    page.get_by_text("2 recipients").wait_for(timeout=WAIT)
    page.get_by_text("0 in the holdout (they get nothing)").wait_for(timeout=WAIT)
    page.get_by_text("Your messaging limit of 250 a day needs 1 days for them.").wait_for(timeout=WAIT)
    page.get_by_text("Estimated cost: ").wait_for(timeout=WAIT)  # from the rate card
    (campaign,) = campaigns()
    assert (campaign.segment, campaign.variables) == ({"country": ["DE"]}, {"offer": "the autumn blend is back"})

    page.get_by_role("button", name="Start").click()
    page.get_by_text("Planning", exact=True).wait_for(timeout=WAIT)
    page.get_by_role("button", name="Pause").click()
    page.get_by_text("Paused", exact=True).wait_for(timeout=WAIT)
    assert campaigns()[0].status == Campaign.PAUSED
    assert drained(app_env, lambda: True)  # a worker runs: the paused campaign sends nothing
    assert sandbox.messages() == []

    page.get_by_role("button", name="Resume").click()
    page.get_by_role("button", name="Pause").wait_for(timeout=WAIT)
    assert drained(app_env, lambda: len(sandbox.messages()) == 2)
    # the page polls the campaign: its figure goes to done without a reload
    page.get_by_text("2 of 2 sent").wait_for(timeout=WAIT)
    page.get_by_text("Completed", exact=True).wait_for(timeout=WAIT)
    bar = page.get_by_role("progressbar")
    assert bar.get_attribute("value") == "100"  # a native <progress>
    assert {message["payload"]["to"].lstrip("+") for message in sandbox.messages()} == {"4915100000001",
                                                                                       "4915100000002"}

    page.get_by_role("button", name="Report").click()
    page.get_by_role("heading", name="Report: Autumn").wait_for(timeout=WAIT)
    report = client.get(f"/admin/api/campaigns/{campaign.id}/report", headers=auth(fake_shopify)).json
    page.locator("#campaign-verdict").get_by_text(report["verdict"]).wait_for(timeout=WAIT)
    row = page.locator("tbody tr").filter(has_text="Variant A")
    assert row.locator("td, th").all_inner_texts()[:3] == ["Variant A", "2", "2"]  # the group, recipients, sent
    page.get_by_test_id("revenue-chart").locator("svg").first.wait_for(timeout=WAIT)
    assert run_axe(page) == []  # the report, its table and chart

    page.get_by_role("button", name="Campaign").click()  # back: the campaign, then the list with its figure
    page.get_by_role("button", name="Campaigns").click()
    listed = page.get_by_role("listitem").filter(has_text="Autumn")
    listed.get_by_text("2 of 2 sent").wait_for(timeout=WAIT)
    assert listed.get_by_text("Completed").is_visible()


def test_cancel_asks_first_and_then_leaves_nothing_queued(page, client, fake_shopify, sandbox, app_env):
    shop_with_contacts(fake_shopify)
    created = client.post("/admin/api/campaigns", headers=auth(fake_shopify), json={
        "name": "Winter", "template": "campaign_announcement", "segment": {"country": ["DE"]},
        "variables": {"offer": "mulled wine"}})
    assert created.status_code == 201
    open_in_shopify(page, client, fake_shopify, "campaigns")
    page.get_by_role("button", name="Open Winter").click()
    page.get_by_role("button", name="Start").click()
    page.get_by_text("Planning", exact=True).wait_for(timeout=WAIT)

    page.get_by_role("button", name="Cancel campaign").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Nothing that has not been sent yet will go out.").wait_for(timeout=WAIT)
    dialog.get_by_role("button", name="Keep it").click()
    dialog.wait_for(state="detached", timeout=WAIT)
    assert campaigns()[0].status == Campaign.PLANNING  # kept: the dialog asked first

    page.get_by_role("button", name="Cancel campaign").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel campaign").click()
    page.get_by_text("Cancelled", exact=True).wait_for(timeout=WAIT)
    assert campaigns()[0].status == Campaign.CANCELLED
    assert drained(app_env, lambda: True)
    assert sandbox.messages() == []


def fill_template(page, name: str) -> None:
    page.get_by_label("Template name").fill(name)
    page.get_by_label("Header (English)").fill("Spring sale")
    page.get_by_label("Message (English)").fill(
        "Hi {{customer_name}}, this week {{offer}} off everything at {{shop_name}} only.")
    page.get_by_label("Footer (English)").fill("Reply STOP to opt out")
    page.get_by_label("Link button text (English)").fill("Shop the sale")
    page.get_by_label("Opt-out button text (English)").fill("Stop promotions")
    page.get_by_label("Example of customer_name").fill("Maria")
    page.get_by_label("Example of offer").fill("20 %")
    page.get_by_label("Example of shop_name").fill("Demo Coffee")


def test_a_new_template_shows_its_preview_a_422_at_its_field_and_saves_then_a_new_version(page, client,
                                                                                         fake_shopify):
    shop = connected_shop(fake_shopify, phone_number_id="5000003")
    shop.name = "Kaffee Klein"
    db.session.commit()
    open_in_shopify(page, client, fake_shopify, "templates")
    page.get_by_role("button", name="New template").click()
    fill_template(page, "campaign_announcement")  # a catalogue name: refused at the name field
    preview = page.get_by_test_id("template-preview")
    preview.locator("[data-language=en]", has_text="Hi Maria, this week 20 % off everything at Kaffee Klein only."
                    ).wait_for(timeout=WAIT)  # the live preview
    assert "Spring sale" in preview.inner_text() and "[Shop the sale]" in preview.inner_text()

    page.get_by_role("button", name="Save template").first.click()
    page.locator("#template-nameError").wait_for(timeout=WAIT)
    assert "catalogue" in page.locator("#template-nameError").inner_text()
    assert db.session.scalar(select(func.count()).select_from(ShopTemplate)) == 0

    page.get_by_label("Template name").fill("spring_sale")
    page.get_by_label("German").check()
    page.get_by_label("Message (German)").fill(
        "Hallo {{customer_name}}, diese Woche {{offer}} Rabatt bei {{shop_name}} auf alles.")
    page.get_by_label("Link button text (German)").fill("Zum Angebot")
    page.get_by_label("Opt-out button text (German)").fill("Keine Werbung")
    preview.get_by_text("header format None differs from en TEXT").wait_for(timeout=WAIT)  # says what is missing
    page.get_by_label("Header (German)").fill("Frühlingsangebote")
    page.get_by_label("Footer (German)").fill("Mit STOP abmelden")
    preview.locator("[data-language=de]", has_text="Hallo Maria, diese Woche 20 % Rabatt bei Kaffee Klein auf alles."
                    ).wait_for(timeout=WAIT)
    page.get_by_role("button", name="Save template").first.click()
    page.get_by_text("Template saved (version 1)").wait_for(timeout=WAIT)
    db.session.expire_all()
    (stored,) = db.session.scalars(select(ShopTemplate)).all()
    assert (stored.name, stored.version, sorted(stored.definition["languages"])) == ("spring_sale", 1, ["de", "en"])

    page.get_by_label("Footer (English)").fill("Reply STOP to stop these")
    page.get_by_role("button", name="Save template").first.click()  # now an edit: PUT, the next version
    page.get_by_text("New version 2 saved").wait_for(timeout=WAIT)
    page.get_by_role("button", name="Templates").click()
    page.get_by_role("button", name="Edit spring_sale").click()
    assert page.get_by_label("Footer (English)").input_value() == "Reply STOP to stop these"


def test_campaign_form_and_template_editor_pass_axe_and_work_by_keyboard(page, client, fake_shopify):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: make builds the front end (npm ci in frontend/)")
    shop_with_contacts(fake_shopify)
    open_in_shopify(page, client, fake_shopify, "campaigns")
    page.get_by_text("No campaigns yet.").wait_for(timeout=WAIT)
    trail = focus_trail(page, 20)
    assert "Create campaign" in [step["text"] for step in trail]
    while page.evaluate("document.activeElement.innerText") != "Create campaign":
        page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # the form, by keyboard
    page.get_by_label("Campaign name").wait_for(timeout=WAIT)
    page.get_by_test_id("segment-count").get_by_text("3 contacts match").wait_for(timeout=WAIT)
    for _ in range(30):
        if page.evaluate("document.activeElement.id") == "campaign-name":
            break
        page.keyboard.press("Tab")
    page.keyboard.type("Keyed in")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "campaign-template"
    page.keyboard.press("ArrowDown")  # a native select: the first marketing template
    page.wait_for_function("document.activeElement.value !== ''")
    page.get_by_label("Template", exact=True).select_option("campaign_announcement")
    page.get_by_label("Value of offer").wait_for(timeout=WAIT)
    page.get_by_label("Test variants (A/B)").check()
    page.get_by_label("Name of variant 2").wait_for(timeout=WAIT)
    assert run_axe(page) == []

    open_in_shopify(page, client, fake_shopify, "templates")
    page.get_by_role("button", name="New template").click()
    page.get_by_label("Message (English)").fill("Hi {{customer_name}}")
    page.get_by_label("Example of customer_name").wait_for(timeout=WAIT)
    assert run_axe(page) == []


def test_the_campaign_form_speaks_german_with_locale_de(page, client, fake_shopify):
    shop_with_contacts(fake_shopify)
    open_in_shopify(page, client, fake_shopify, "campaigns")
    page.goto(page.url + "&locale=de")
    page.get_by_text("Noch keine Kampagnen.").wait_for(timeout=WAIT)
    assert page.get_by_role("link", name="Kampagnen").count() == 1  # the navigation
    page.get_by_role("button", name="Kampagne erstellen").first.click()
    page.get_by_label("Länder").fill("DE")
    page.get_by_test_id("segment-count").get_by_text("2 Kontakte passen").wait_for(timeout=WAIT)
    assert page.get_by_text("Zu einer Ortszeit in der Zeitzone jedes Empfängers").is_visible()
