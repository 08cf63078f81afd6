"""The Shopify checkout extension (extensions/whatsapp-checkout): its files and its logic (node
--test), the contact step's cart attributes read from the order, and the thank-you block's
request through the connector's endpoint with the extension's session token."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import tomllib
from decimal import Decimal
from pathlib import Path

import jwt
import pytest
from sqlalchemy import select

from connector.extensions import db
from connector.models import ConsentEvent, Message, OrderRecord, utcnow
from connector.models.contacts import CONSENT_GRANTED, CONSENT_PENDING
from integrations.kit import load_json
from integrations.shopify.webhooks import parse
from tests.factories import make_contact, make_shop

ROOT = Path(__file__).resolve().parent.parent
EXTENSION = ROOT / "extensions" / "whatsapp-checkout"
FIXTURES = ROOT / "tests" / "fixtures" / "payloads" / "shopify"
NODE = shutil.which("node")
TEXT = "Schickt mir Angebote und Neuigkeiten per WhatsApp. Abmelden jederzeit mit der Antwort STOP."


class Context:
    country = "DE"
    locale = "de"
    shop_domain = "demo.myshopify.com"

    def variant_for_inventory_item(self, inventory_item_id: str):
        return None


def test_the_extension_declares_its_targets_modules_and_capabilities():
    config = tomllib.loads((EXTENSION / "shopify.extension.toml").read_text())
    (extension,) = config["extensions"]
    assert extension["type"] == "ui_extension"
    targets = {entry["target"]: entry["module"] for entry in extension["targeting"]}
    assert targets == {"purchase.checkout.contact.render-after": "./src/Checkout.jsx",
                       "purchase.thank-you.block.render": "./src/ThankYou.jsx"}
    for module in targets.values():
        source = (EXTENSION / module).read_text()
        assert re.search(r"reactExtension\('([^']+)'", source).group(1) in targets  # the module renders its target
    assert extension["capabilities"]["network_access"] is True
    assert re.fullmatch(r"\d{4}-\d{2}", config["api_version"])
    package = json.loads((EXTENSION / "package.json").read_text())
    lock = json.loads((EXTENSION / "package-lock.json").read_text())
    assert set(package["dependencies"]) <= {name.removeprefix("node_modules/") for name in lock["packages"]}


def test_every_translation_the_blocks_use_exists_in_every_locale():
    used = set()
    for module in (EXTENSION / "src").glob("*.jsx"):
        used |= set(re.findall(r"translate\('([^']+)'\)", module.read_text()))
    used |= set(re.findall(r"'(checkWhatsApp|alreadySubscribed)'", (EXTENSION / "src" / "ThankYou.jsx").read_text()))
    assert used
    for locale in (EXTENSION / "locales").glob("*.json"):
        assert used <= set(json.loads(locale.read_text())), locale.name


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_extensions_logic_passes_its_unit_tests():
    result = subprocess.run([NODE, "--test", "src/"], cwd=EXTENSION, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout and "# pass 5" in result.stdout


def test_the_contact_steps_attributes_reach_the_order_as_the_customers_opt_in():
    payload = load_json((FIXTURES / "orders_paid__sample.json").read_bytes())
    payload["note_attributes"] = [{"name": "_wcc_whatsapp_opt_in", "value": "yes"},
                                  {"name": "_wcc_consent_text", "value": TEXT}]
    [event] = parse("orders/paid", payload, Context())
    assert event.order.customer.whatsapp_opt_in is True
    assert event.order.customer.whatsapp_consent_text == TEXT
    payload["note_attributes"] = [{"name": "_wcc_whatsapp_opt_in", "value": "no"}]
    [event] = parse("orders/paid", payload, Context())
    assert event.order.customer.whatsapp_opt_in is False
    payload.pop("note_attributes")
    [event] = parse("orders/paid", payload, Context())
    assert event.order.customer.whatsapp_opt_in is None


# --- the thank-you block's endpoint ----------------------------------------------------------


def extension_token(fake_shopify, *, dest: str | None = None, secret: str | None = None, **claims) -> str:
    issued = int(time.time())
    body = {"dest": dest or fake_shopify.shop_domain, "aud": fake_shopify.api_key, "exp": issued + 300,
            "nbf": issued, "iat": issued, "jti": "j1"} | claims
    return jwt.encode(body, secret or fake_shopify.api_secret, algorithm="HS256")


def placed_order(shop, phone: str = "+4915112345678", order_id: str = "820982911946154508"):
    contact = make_contact(shop, phone, marketing=False)
    db.session.add(OrderRecord(shop_id=shop.id, order_id=order_id, contact_id=contact.id, currency="EUR",
                               total=Decimal("10.00"), placed_at=utcnow()))
    db.session.commit()
    return contact


def post(client, token: str | None, body: dict):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/storefront/api/checkout-opt-in", json=body, headers=headers)


def body(order_id: str = "gid://shopify/OrderIdentity/820982911946154508") -> dict:
    return {"order_id": order_id, "consent_text": TEXT, "locale": "de"}


def test_the_thank_you_block_starts_the_double_opt_in_for_the_orders_phone(client, fake_shopify, drain, sandbox):
    shop = make_shop(fake_shopify.shop_domain)
    contact = placed_order(shop)
    answer = post(client, extension_token(fake_shopify), body())
    assert answer.status_code == 202, answer.get_json()
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    db.session.expire_all()
    (pending,) = db.session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact.id,
                                                               ConsentEvent.purpose == "marketing")).all()
    assert (pending.state, pending.source, pending.text_shown) == (CONSENT_PENDING, "checkout_checkbox", TEXT)
    assert pending.evidence["surface"] == "thank_you" and pending.evidence["order_id"] == "820982911946154508"
    assert drain(lambda: any(m["type"] == "template" for m in sandbox.messages()))
    # the same box pressed again (a reload): no second question
    again = post(client, extension_token(fake_shopify, dest=f"https://{fake_shopify.shop_domain}"), body())
    assert again.status_code == 202 and again.get_json()["status"] == "confirmation_pending"
    assert len([m for m in db.session.scalars(select(Message)).all() if m.template_name == "optin_confirmation"]) == 1


def test_preflight_and_the_refusals(client, fake_shopify):
    shop = make_shop(fake_shopify.shop_domain)
    placed_order(shop)
    preflight = client.open("/storefront/api/checkout-opt-in", method="OPTIONS",
                            headers={"Origin": "https://extensions.shopifycdn.com",
                                     "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code == 204 and "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert post(client, None, body()).status_code == 401
    forged = extension_token(fake_shopify, secret="another-app-secret-" + "q" * 20)
    assert post(client, forged, body()).status_code == 401
    assert post(client, extension_token(fake_shopify, aud="another-app"), body()).status_code == 401
    assert post(client, extension_token(fake_shopify, exp=int(time.time()) - 60), body()).status_code == 401
    assert post(client, extension_token(fake_shopify, dest="not-installed.myshopify.com"), body()).status_code == 401
    bad = post(client, extension_token(fake_shopify), {"order_id": "1", "consent_text": "short"})
    assert bad.status_code == 400 and bad.get_json()["field"] == "consent_text"
    assert post(client, extension_token(fake_shopify), {**body(), "admin": True}).status_code == 400
    assert db.session.scalar(select(ConsentEvent.id).where(ConsentEvent.state == CONSENT_PENDING)) is None


def test_an_order_not_known_yet_or_of_another_shop_answers_409(client, fake_shopify):
    make_shop(fake_shopify.shop_domain)
    other = make_shop("other-shop.myshopify.com", phone_number_id="1000002")
    placed_order(other, order_id="999")
    assert post(client, extension_token(fake_shopify), body("gid://shopify/OrderIdentity/999")).status_code == 409
    assert post(client, extension_token(fake_shopify), body()).status_code == 409
    assert db.session.scalar(select(ConsentEvent.id).where(ConsentEvent.state == CONSENT_PENDING)) is None


def test_a_subscribed_buyer_is_told_so(client, fake_shopify):
    shop = make_shop(fake_shopify.shop_domain)
    contact = placed_order(shop)
    contact.marketing_consent = CONSENT_GRANTED
    db.session.commit()
    answer = post(client, extension_token(fake_shopify), body())
    assert answer.status_code == 200 and answer.get_json() == {"status": "already_subscribed"}
