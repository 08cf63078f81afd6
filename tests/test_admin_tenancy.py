"""Tenancy of the whole admin API, generated from the URL map: every ``/admin/api`` rule of every
blueprint is asked with shop A's session token (a Shopify shop's App Bridge token, then a
WooCommerce store's plugin token). With shop B's ids in the path it must answer
404, exactly like a missing id; without ids (lists, exports, settings) it must answer A's
records and never one of B's. No route may answer 5xx.

A route added later is covered without touching this file, except that a new kind of path id
needs shop B's row for it in ``b_ids`` (the test says which).
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from connector import consent
from connector.extensions import db
from connector.messaging import shop_catalogue
from connector.models import (
    Campaign,
    Contact,
    DataExport,
    EntryPoint,
    InboundRecord,
    OrderRecord,
    ReviewAnswer,
    Segment,
    SettingsChange,
    TemplateApproval,
    utcnow,
)
from connector.models.contacts import CONSENT_PENDING
from connector.web.apidoc import API_PREFIX
from tests.factories import make_contact, order_confirmation
from tests.test_admin_settings import auth, connected_shop
from tests.test_admin_woocommerce import bearer, mint, woo_shop
from tests.test_shop_templates import spring_sale

B_DOMAIN = "other-shop.myshopify.com"
B_PHONE = "+4917655507781"
#: strings that exist only in shop B's rows: none may appear in an answer to shop A
B_MARKERS = ("4917655507781", "Bertha Zweitladen", "B-OPT-IN-7781", "B-INBOUND-7781", "B-REJECTED-7781",
             "b-staff-7781", "B-ORDER-7781", "B-BODY-7781", "B-TAX-7781", "5000002", "7781SECRETTOKEN",
             "b_sale_7781", "B-CAMPAIGN-7781", "B-SEGMENT-7781", "B-COMMENT-7781")
PUBLIC = {f"{API_PREFIX}/openapi.json"}


def seed(shop, *, phone: str, name: str, tag: str) -> dict[str, int | str]:
    """One of everything an admin route can show, with ``tag`` in every text; the rows' ids."""
    contact = make_contact(shop, phone, name=name, marketing=False)
    consent.record(contact, consent.MARKETING, CONSENT_PENDING, "widget_popup", text_shown=f"{tag}-OPT-IN-7781"
                   if tag == "B" else "A opt-in text", evidence={"tag": tag})
    db.session.add(InboundRecord(shop_id=shop.id, contact_id=contact.id, wamid=f"wamid.{tag}", kind="text",
                                 text=f"{tag}-INBOUND-7781" if tag == "B" else "A inbound", received_at=utcnow()))
    message = order_confirmation(shop, contact, key=f"order:{tag}:confirmation",
                                 content={"body": {"customer_name": f"{tag}-BODY-7781" if tag == "B" else "Anna",
                                                   "order_number": "#1", "order_total": "1 €"}}).message
    message.status, message.sent_at = "read", utcnow() - timedelta(minutes=5)
    message.read_at = utcnow()
    db.session.add(OrderRecord(shop_id=shop.id, order_id=f"{tag}-ORDER-7781" if tag == "B" else "A-1",
                               contact_id=contact.id, currency="EUR", total=Decimal("10.00"),
                               placed_at=utcnow(), attributed_message_id=message.id,
                               attributed_automation="order_confirmation", attribution="read"))
    db.session.add(TemplateApproval(shop_id=shop.id, name="cart_reminder_1", language="en", version=1,
                                    category="MARKETING", status="REJECTED",
                                    reason=f"{tag}-REJECTED-7781" if tag == "B" else "A reason"))
    db.session.add(SettingsChange(shop_id=shop.id, changed_by=f"{tag.lower()}-staff-7781" if tag == "B" else "a",
                                  changed_at=utcnow(), changes=[{"path": "retention_days", "before": 180,
                                                                 "after": 90}]))
    export = DataExport(shop_id=shop.id, request_ref="cli", content=f'{{"tag": "{tag}", "phone": "{phone}"}}')
    db.session.add(export)
    entry = EntryPoint(shop_id=shop.id, name=f"{tag}-ENTRY-7781" if tag == "B" else "A window",
                       text="Please send me offers on WhatsApp.")
    db.session.add(entry)
    segment = Segment(shop_id=shop.id, name=f"{tag}-SEGMENT-7781" if tag == "B" else "A segment",
                      definition={"country": ["DE"]})
    campaign = Campaign(shop_id=shop.id, name=f"{tag}-CAMPAIGN-7781" if tag == "B" else "A campaign",
                        template_name="campaign_announcement", variables={"offer": "x"}, segment={}, variants=[],
                        holdout_percent=0, status=Campaign.DRAFT, recipients=0, holdout=0)
    db.session.add_all([segment, campaign])
    template = spring_sale(name=f"{tag.lower()}_sale_7781")  # the shop's own template, by name in the path
    shop_catalogue.save(shop.id, template, created_by=f"{tag.lower()}-staff-7781" if tag == "B" else "a",
                        source="seed")
    review = ReviewAnswer(shop_id=shop.id, contact_id=contact.id, order_id=f"{tag}-ORDER-7781" if tag == "B" else "A-1",
                          product_ids=["1"], rating=1, flagged=True, rated_at=utcnow(),
                          comment="B-COMMENT-7781" if tag == "B" else "A comment")
    db.session.add(review)
    db.session.commit()
    return {"contact_id": contact.id, "export_id": export.id, "message_id": message.id, "entry_id": entry.id,
            "segment_id": segment.id, "campaign_id": campaign.id, "name": template["name"], "review_id": review.id}


@pytest.fixture(params=["shopify", "woocommerce"])
def shops(request, ctx, fake_shopify):
    """Shop A (a Shopify shop, or a WooCommerce store with the plugin's token) and shop B (Shopify),
    each with one of everything; their ids and tokens."""
    if request.param == "shopify":
        a = connected_shop(fake_shopify)
        a_token = auth(fake_shopify)
    else:
        a = woo_shop()
        a_token = bearer(mint())
    a_ids = seed(a, phone="+4915112345678", name="Anna Erstladen", tag="A")
    b = connected_shop(fake_shopify, B_DOMAIN, phone_number_id="5000002",
                       settings={"invoice": {"tax_id": "B-TAX-7781"}})
    b.whatsapp.access_token = "EAAG7781SECRETTOKEN7781xxxxxxxx"
    db.session.commit()
    b_ids = seed(b, phone=B_PHONE, name="Bertha Zweitladen", tag="B")
    return {"a": a, "a_ids": a_ids, "a_token": a_token, "b": b, "b_ids": b_ids,
            "b_token": auth(fake_shopify, B_DOMAIN, user_id="77")}


def admin_rules(app):
    """(rule, method) for every /admin/api route of every blueprint."""
    return sorted(((rule, method) for rule in app.url_map.iter_rules() if rule.rule.startswith(API_PREFIX)
                   for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}), key=lambda pair: (pair[0].rule,
                                                                                                    pair[1]))


def path_with(rule, ids: dict) -> str:
    def fill(match: re.Match) -> str:
        name = match.group(1)
        assert name in ids, f"{rule.rule}: give shop B's row for <{name}> in seed() (tests/test_admin_tenancy.py)"
        return str(ids[name])

    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", fill, rule.rule)


def ask(client, method: str, path: str, headers: dict, body: dict):
    return client.open(path, method=method, headers=headers, json=body)


def leaked(response) -> list[str]:
    text = response.get_data(as_text=True)
    return [marker for marker in B_MARKERS if marker in text]


def test_the_url_map_has_the_admin_routes_this_test_is_about(app):
    rules = {rule.rule for rule, _ in admin_rules(app)}
    assert {"/admin/api/contacts", "/admin/api/contacts/<int:contact_id>", "/admin/api/messages.csv",
            "/admin/api/data-exports/<int:export_id>", "/admin/api/settings"} <= rules


def test_shop_b_s_ids_answer_404_to_shop_a_like_missing_ones(app, client, shops):
    a_ids, b, b_ids, a_token = shops["a_ids"], shops["b"], shops["b_ids"], shops["a_token"]
    with_ids = [(rule, method) for rule, method in admin_rules(app) if rule.arguments]
    assert with_ids, "no admin route takes an id"
    for rule, method in with_ids:
        for ids, what in ((b_ids, "shop B's id"), ({name: 2**62 for name in b_ids}, "a missing id"),
                          ({name: 2**70 for name in b_ids}, "an id beyond BIGINT")):
            response = ask(client, method, path_with(rule, ids), a_token, {"confirm": B_PHONE})
            assert response.status_code == 404, f"{method} {rule.rule} with {what}: {response.status_code}"
            assert leaked(response) == [], f"{method} {rule.rule}"
    # shop B's rows are as they were: nothing was exported, erased or changed for shop A
    db.session.expire_all()
    assert db.session.get(Contact, b_ids["contact_id"]).phone_e164 == B_PHONE
    assert db.session.scalar(select(func.count()).select_from(DataExport).where(DataExport.shop_id == b.id)) == 1
    # the control: with shop A's own ids the same routes find the rows (the 404s were tenancy)
    for rule, method in with_ids:
        response = ask(client, method, path_with(rule, a_ids), a_token, {"confirm": B_PHONE})
        assert response.status_code != 404 and response.status_code < 500, f"{method} {rule.rule}"


def test_no_route_answers_shop_a_with_shop_b_s_rows_or_a_5xx(app, client, shops):
    a_token, b_token, b_ids = shops["a_token"], shops["b_token"], shops["b_ids"]
    asked = 0
    for rule, method in admin_rules(app):
        if rule.arguments:
            continue
        headers = {} if rule.rule in PUBLIC else a_token
        # shop B's ids as filters (?contact_id=) find nothing either; ids beyond BIGINT are refused
        for query in ({}, b_ids, {name: 2**70 for name in (*b_ids, "before")}):
            response = client.open(rule.rule, method=method, headers=headers, json={}, query_string=query)
            assert response.status_code < 500, f"{method} {rule.rule} {query}: {response.status_code}"
            assert leaked(response) == [], f"{method} {rule.rule} {query} answered shop A with B's {leaked(response)}"
        asked += 1
    assert asked >= 10
    # the control: shop B's own token does see its markers, so the check above can fail
    seen = set()
    for path in ("/admin/api/contacts", "/admin/api/messages.csv", "/admin/api/templates", "/admin/api/settings",
                 "/admin/api/settings/history", "/admin/api/attribution.csv",
                 f"/admin/api/contacts/{b_ids['contact_id']}"):
        seen.update(leaked(client.get(path, headers=b_token)))
    assert {"4917655507781", "Bertha Zweitladen", "B-OPT-IN-7781", "B-INBOUND-7781", "B-REJECTED-7781",
            "b-staff-7781", "B-ORDER-7781", "B-BODY-7781", "B-TAX-7781", "b_sale_7781"} <= seen
