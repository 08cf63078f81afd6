"""Tracked short links: redirect with UTM, click recorded, never off the shop's own domains."""

from __future__ import annotations

from sqlalchemy import select, update

from connector.automations.attribution import funnel
from connector.automations.links import short_link
from connector.extensions import db
from connector.models import LinkClick, Message, OrderRecord, ShortLink
from tests.automation_events import OrderPaid, apply, order
from tests.factories import make_contact, make_shop, order_confirmation


def test_click_redirects_with_utm_and_is_recorded(ctx, client):
    shop = make_shop()
    contact = make_contact(shop)
    link = short_link(shop=shop, contact=contact, link_key="k1", target="https://demo-shop.myshopify.com/products/x?a=1",
                      automation="abandoned_cart", template="cart_reminder_1")
    db.session.commit()
    response = client.get(f"/l/{link.code}")
    assert response.status_code == 302
    assert response.headers["Location"] == ("https://demo-shop.myshopify.com/products/x?a=1&utm_source=whatsapp"
                                            "&utm_medium=abandoned_cart&utm_campaign=cart_reminder_1")
    db.session.expire_all()
    assert db.session.get(ShortLink, link.id).clicks == 1
    assert db.session.scalars(select(LinkClick)).one().contact_id == contact.id


def test_foreign_targets_never_redirect(ctx, client):
    shop = make_shop()
    made = short_link(shop=shop, contact=None, link_key="k2", target="https://evil.example/phish",
                      automation="x", template=None)
    db.session.commit()
    assert made.target_url.startswith("https://demo-shop.myshopify.com/")  # replaced when made
    # a row that points elsewhere anyway (edited, or a domain removed from the settings) is 404
    db.session.execute(update(ShortLink).where(ShortLink.id == made.id).values(target_url="https://evil.example/"))
    db.session.commit()
    assert client.get(f"/l/{made.code}").status_code == 404
    for lookalike in ("https://demo-shop.myshopify.com.evil.example/", "https://user@evil.example/",
                      "javascript:alert(1)", "//evil.example/"):
        db.session.execute(update(ShortLink).where(ShortLink.id == made.id).values(target_url=lookalike))
        db.session.commit()
        assert client.get(f"/l/{made.code}").status_code == 404, lookalike
    assert client.get("/l/nosuchcode").status_code == 404
    assert client.get("/l/x?next=https://evil.example").status_code == 404
    assert db.session.scalars(select(LinkClick)).all() == []


def test_order_attributed_to_last_clicked_message_and_funnel(ctx, client, drain, sandbox):
    shop = make_shop()
    contact = make_contact(shop, "+4915123456789")
    queued = order_confirmation(shop, contact, key="older")
    link = short_link(shop=shop, contact=contact, link_key="older:button:0",
                      target="https://demo-shop.myshopify.com/", automation="abandoned_cart",
                      template="cart_reminder_1")
    link.message_id = queued.message.id
    db.session.commit()
    assert drain(lambda: db.session.get(Message, queued.message.id).status == "read")
    assert client.get(f"/l/{link.code}").status_code == 302
    apply(shop, OrderPaid(order("5001", cart_tokens=())))
    record = db.session.scalars(select(OrderRecord)).one()
    assert (record.attributed_message_id, record.attribution) == (queued.message.id, "click")
    rows = {row["automation"]: row for row in funnel(shop.id)}
    assert rows["abandoned_cart"]["clicked"] == 1 and rows["abandoned_cart"]["orders"] == 1
    assert rows["abandoned_cart"]["revenue"] == {"EUR": "57.20"}
    assert rows["order_confirmation"]["triggered"] == 2 and rows["order_confirmation"]["read"] == 1


def test_read_message_is_credited_without_a_click(ctx, drain):
    shop = make_shop()
    contact = make_contact(shop, "+4915123456789")
    queued = order_confirmation(shop, contact, key="read-only")
    assert drain(lambda: db.session.get(Message, queued.message.id).status == "read")
    apply(shop, OrderPaid(order("5002", cart_tokens=())))
    record = db.session.scalars(select(OrderRecord)).one()
    assert (record.attributed_message_id, record.attribution) == (queued.message.id, "read")


def test_report_command_prints_the_funnel_per_automation(ctx):
    import json as json_module

    from connector.cli import cli
    from tests.factories import make_contact, make_shop, order_confirmation

    shop = make_shop()
    order_confirmation(shop, make_contact(shop))
    result = ctx.test_cli_runner().invoke(cli, ["report", "--shop", shop.domain, "--json"])
    assert result.exit_code == 0, result.output
    rows = [json_module.loads(line) for line in result.output.splitlines() if line.strip()]
    assert {row["automation"]: row["triggered"] for row in rows}.get("order_confirmation") == 1
    assert all({"automation", "triggered", "sent", "delivered", "read", "clicked", "orders", "revenue"} <= row.keys()
               for row in rows)
    missing = ctx.test_cli_runner().invoke(cli, ["report", "--shop", "no-such-shop"])
    assert missing.exit_code != 0 and "no-such-shop" in missing.output
