"""The embedded admin page in a real browser (headless Chromium), App Bridge stood in for.

The page is the admin app built from frontend/ (tests/test_admin_app_browser.py has the rest of
its browser tests); the customer data exports are listed on its Contacts page."""

from __future__ import annotations

import json

from connector.extensions import db
from connector.models import DataExport, Shop
from tests.browser import APP_BRIDGE_URL, app_bridge_stand_in, browser, page  # noqa: F401 (fixtures)


def test_14_7_export_download_goes_through_an_authenticated_fetch(page, client, fake_shopify):
    token = fake_shopify.session_token(lifetime=600)
    assert client.get("/admin/api/shop", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    shop = db.session.query(Shop).filter_by(domain=fake_shopify.shop_domain).one()
    export = DataExport(shop_id=shop.id, request_ref="dr-77", content='{"contacts": [{"id": 1}]}')
    db.session.add(export)
    db.session.commit()

    page.stand_ins[APP_BRIDGE_URL] = ("text/javascript", app_bridge_stand_in(token))
    page.goto(f"/admin/?shop={fake_shopify.shop_domain}&host=YWRtaW4&page=contacts")
    button = page.get_by_role("button", name="dr-77")
    button.wait_for(timeout=15000)
    with page.expect_download(timeout=15000) as info:
        button.click()
    download = info.value
    assert download.suggested_filename == f"customer-export-{export.id}.json"
    with open(download.path()) as handle:
        assert json.load(handle) == {"contacts": [{"id": 1}]}
    exports = page.get_by_role("region", name="Customer data exports")
    assert exports.get_by_text("Could not load this").count() == 0
