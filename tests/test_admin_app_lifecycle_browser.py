"""The admin app's lifecycle automations in a real browser (as tests/test_admin_app_browser.py):
a post-purchase rule added in the settings form and saved, and the review request's low
ratings on the Automations page."""

from __future__ import annotations

from connector import shop_settings
from connector.extensions import db
from connector.models import OrderRecord, ReviewAnswer, Shop, utcnow
from tests.browser import browser, page  # noqa: F401 (fixtures)
from tests.factories import make_contact
from tests.test_admin_app_browser import open_in_shopify
from tests.test_admin_settings import connected_shop


def test_a_post_purchase_rule_added_in_the_form_is_saved(page, client, fake_shopify):
    shop = open_in_shopify(page, client, fake_shopify, "settings")
    add = page.get_by_role("button", name="Add a rule")
    add.wait_for(timeout=15000)
    add.click()
    page.get_by_label("Product ids, separated by commas (empty: every order)").fill("11, 12")
    page.get_by_label("Address of the guide or video").fill(f"https://{fake_shopify.shop_domain}/pages/guide")
    page.get_by_label("What it is, as the shopper reads it").fill("How to brew with your grinder")
    page.locator("ui-save-bar").get_by_role("button", name="Save").click()
    page.get_by_text("Settings saved").wait_for(timeout=15000)
    db.session.expire_all()
    rules = shop_settings.effective(db.session.get(Shop, shop.id))["automations"]["post_purchase"]["rules"]
    assert rules == [{"product_ids": ["11", "12"], "url": f"https://{fake_shopify.shop_domain}/pages/guide",
                      "note": "How to brew with your grinder"}]


def test_an_empty_rule_shows_the_servers_error_and_saves_nothing(page, client, fake_shopify):
    shop = open_in_shopify(page, client, fake_shopify, "settings")
    add = page.get_by_role("button", name="Add a rule")
    add.wait_for(timeout=15000)
    add.click()
    page.locator("ui-save-bar").get_by_role("button", name="Save").click()
    page.get_by_text("Some settings need a change").wait_for(timeout=15000)
    db.session.expire_all()
    assert shop_settings.effective(db.session.get(Shop, shop.id))["automations"]["post_purchase"]["rules"] == []


def test_the_automations_page_lists_the_low_ratings(page, client, fake_shopify):
    shop = connected_shop(fake_shopify)
    contact = make_contact(shop, "+4915123456789", name="Maria Muster")
    db.session.add(OrderRecord(shop_id=shop.id, contact_id=contact.id, order_id="5001", name="#5001",
                               placed_at=utcnow()))
    db.session.add_all([
        ReviewAnswer(shop_id=shop.id, contact_id=contact.id, order_id="5001", product_ids=["11"], rating=1,
                     flagged=True, rated_at=utcnow(), comment="Die Kanne kam zerbrochen an."),
        ReviewAnswer(shop_id=shop.id, contact_id=contact.id, order_id="5002", product_ids=["11"], rating=5,
                     flagged=False, rated_at=utcnow(), comment="Wunderbar")])
    db.session.commit()
    open_in_shopify(page, client, fake_shopify, "automations")
    page.get_by_text("Low ratings (1-2), newest first").wait_for(timeout=15000)
    page.get_by_text("Die Kanne kam zerbrochen an.", exact=False).wait_for(timeout=15000)
    assert page.get_by_text("1 of 5", exact=False).count() == 1
    assert page.get_by_text("Wunderbar", exact=False).count() == 0  # a 5 is not flagged
