"""Order confirmation with the invoice PDF, through a real worker and the sandbox."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from connector.extensions import db
from connector.messaging.invoices import InvoiceShop, format_money, render_invoice_pdf
from connector.models import Contact, Invoice, Message, OrderRecord
from tests.automation_events import OrderPaid, OrderPlaced, apply, order, timedelta
from tests.factories import make_shop
from tests.test_invoices import pdf_strings


def _messages():
    return db.session.scalars(select(Message).order_by(Message.id)).all()


def test_paid_order_gets_one_confirmation_with_invoice_whose_totals_match(ctx, client, drain, sandbox):
    shop = make_shop()
    paid = order("5001", payment_method="card")
    apply(shop, OrderPlaced(paid))  # default trigger is "paid": nothing yet
    assert _messages() == []
    apply(shop, OrderPaid(paid))
    apply(shop, OrderPaid(paid))  # the same webhook again (stale: dropped)
    later = paid.updated_at + timedelta(seconds=5)  # a newer state of the same order, paid again
    apply(shop, OrderPaid(order("5001", updated_at=later, created_at=paid.created_at)))
    (message,) = _messages()
    assert message.idempotency_key == "order:5001:confirmation"
    assert message.purpose == "transactional" and message.language == "de"
    assert drain(lambda: db.session.get(Message, message.id).status == "read")
    assert len(sandbox.messages()) == 1

    contact = db.session.scalars(select(Contact)).one()
    assert contact.phone_e164 == "+4915123456789" and contact.locale == "de"
    assert contact.transactional_consent == "granted" and contact.transactional_consent_source == "order"
    assert contact.marketing_consent == "none"  # an order is never marketing consent

    header = message.content["header"]
    assert header["type"] == "document" and header["filename"] == "invoice-5001.pdf"
    path = header["link"].split("://", 1)[1].split("/", 1)[1]
    response = client.get("/" + path)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = " ".join(pdf_strings(response.data))
    assert "Rechnung" in text and "#5001" in text
    assert format_money(Decimal("57.20"), "EUR", "de").replace("\xa0", " ") in text.replace("\xa0", " ")
    assert message.content["body"]["order_total"] == format_money(Decimal("57.20"), "EUR", "de")

    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert client.get("/" + tampered).status_code == 404


def test_cash_on_delivery_is_confirmed_when_placed(ctx, drain, sandbox):
    shop = make_shop()
    apply(shop, OrderPlaced(order("6001", payment_method="cod")))
    (message,) = [m for m in _messages() if m.automation == "order_confirmation"]  # + the COD question (14.1)
    assert message.idempotency_key == "order:6001:confirmation"
    assert drain(lambda: db.session.get(Message, message.id).sent_at is not None)


def test_placed_trigger_then_paid_sends_once(ctx, drain, sandbox):
    shop = make_shop(settings={"governor": {"quiet_hours": {"enabled": False}},
                               "automations": {"order_confirmation": {"trigger": "placed"}}})
    placed = order("7001")
    apply(shop, OrderPlaced(placed), OrderPaid(placed))
    assert len(_messages()) == 1
    assert drain(lambda: db.session.get(Message, _messages()[0].id).status == "read")
    assert len(sandbox.messages()) == 1
    assert db.session.scalar(select(func.count(OrderRecord.id))) == 1


def test_order_without_phone_records_the_order_and_sends_nothing(ctx):
    shop = make_shop()
    apply(shop, OrderPaid(order("8001", phone=None)))
    assert _messages() == []
    assert db.session.scalar(select(func.count(OrderRecord.id))) == 1


def test_expired_invoice_link_is_404(ctx, client):
    from connector.automations.invoices import invoice_for, invoice_url

    shop = make_shop(settings={"automations": {"order_confirmation": {"invoice_link_days": 0}}})
    invoice = invoice_for(shop, order("9001"), "en")
    db.session.commit()
    url = invoice_url(invoice)
    import time
    time.sleep(1.1)
    assert client.get("/" + url.split("://", 1)[1].split("/", 1)[1]).status_code == 404


def test_the_invoice_is_rendered_at_its_first_download_as_the_order_had_it(ctx, client):
    shop = make_shop(settings={"governor": {"quiet_hours": {"enabled": False}},
                               "invoice": {"address_lines": ["Kaffeeweg 2", "10115 Berlin"], "tax_id": "DE123"}})
    paid = order("5101")
    apply(shop, OrderPaid(paid))
    invoice = db.session.scalars(select(Invoice)).one()
    assert invoice.pdf is None and invoice.draft["number"] == "5101"  # nothing rendered with the order
    # the seller moves before Meta fetches the document: the invoice still shows the order's day
    shop.settings = {**shop.settings, "invoice": {"address_lines": ["Neue Strasse 9"], "tax_id": "DE999"}}
    db.session.commit()

    (message,) = _messages()
    path = "/" + message.content["header"]["link"].split("://", 1)[1].split("/", 1)[1]
    first = client.get(path)
    assert first.status_code == 200 and first.mimetype == "application/pdf"
    expected = render_invoice_pdf(paid, InvoiceShop(name=shop.name or shop.domain,
                                                    address_lines=("Kaffeeweg 2", "10115 Berlin"), tax_id="DE123"),
                                  locale="de", invoice_number="5101", issued_at=paid.created_at)
    assert pdf_strings(first.data) == pdf_strings(expected)
    assert "Neue Strasse 9" not in " ".join(pdf_strings(first.data))
    db.session.expire_all()
    stored = db.session.get(Invoice, invoice.id)
    assert stored.pdf == first.data and stored.draft is None  # rendered once, kept
    assert client.get(path).data == first.data
