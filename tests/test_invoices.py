"""Invoice PDFs: what is printed (read back from the content streams), locale formats,
reproducible bytes and long orders over several pages.

fpdf2 cannot read PDFs and pypdf is not a dependency, so the tests inflate the
FlateDecode content streams with zlib and collect the strings of the ``Tj`` operators.
"""

from __future__ import annotations

import re
import zlib
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from connector.events import Customer, LineItem, Order
from connector.messaging.invoices import InvoiceShop, format_money, invoice_filename, pdf_safe, render_invoice_pdf

ISSUED = datetime(2026, 3, 5, 9, 30, tzinfo=timezone.utc)
SHOP = InvoiceShop(name="Demo Coffee Roasters", address_lines=("Kaffeeweg 2", "10115 Berlin"),
                   tax_id="DE123456789", email="shop@example.com")
NBSP = "\u00a0"


def make_order(lines: tuple[LineItem, ...] | None = None, **changes) -> Order:
    lines = lines or (
        LineItem(product_id="1", variant_id="11", title="Ethiopia Yirgacheffe", quantity=2,
                 unit_price=Decimal("19.95"), variant_title="500 g"),
        LineItem(product_id="2", variant_id="21", title="Café crème filter", quantity=1, unit_price=Decimal("10.00")),
    )
    values = dict(
        platform="shopify", order_id="5550001", name="#1001", created_at=ISSUED, updated_at=ISSUED,
        customer=Customer(first_name="Maria", last_name="Silva", email="maria@example.com"), lines=lines,
        currency="EUR", subtotal=Decimal("49.90"), shipping=Decimal("4.90"), tax=Decimal("8.75"),
        discount=Decimal("0"), total=Decimal("54.80"), taxes_included=True,
        billing_address={"first_name": "Maria", "last_name": "Silva", "address1": "Hauptstraße 1",
                         "zip": "10115", "city": "Berlin", "country": "Germany"},
    )
    values.update(changes)
    return Order(**values)


def render(order: Order | None = None, *, locale: str = "de-DE", issued_at: datetime = ISSUED) -> bytes:
    return render_invoice_pdf(order or make_order(), SHOP, locale=locale, invoice_number="RE-2026-0001",
                              issued_at=issued_at)


def pdf_strings(pdf: bytes) -> list[str]:
    """The text drawn by ``Tj`` operators, page by page, decoded from Windows-1252."""
    strings: list[str] = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            data = zlib.decompress(match.group(1))
        except zlib.error:
            continue  # not a Flate stream (none today; fonts are not embedded)
        for raw in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", data):
            unescaped = re.sub(rb"\\([()\\])", rb"\1", raw)
            strings.append(unescaped.decode("windows-1252"))
    return strings


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b", pdf))


def test_the_invoice_prints_shop_order_lines_and_totals_in_german():
    pdf = render()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    strings = pdf_strings(pdf)
    for expected in (
        "Demo Coffee Roasters", "USt-IdNr.: DE123456789", "shop@example.com", "Rechnung",
        "Rechnungsnummer: RE-2026-0001", "Datum: 5. März 2026", "Bestellung: #1001",
        "Rechnungsadresse", "Maria Silva", "Hauptstraße 1", "10115 Berlin",
        "Artikel", "Menge", "Einzelpreis", "Betrag",
        "Ethiopia Yirgacheffe – 500 g", "Café crème filter",
        f"19,95{NBSP}€", f"39,90{NBSP}€", f"10,00{NBSP}€",
        "Zwischensumme", f"49,90{NBSP}€", "Versand", f"4,90{NBSP}€",
        "Enthaltene MwSt.", f"8,75{NBSP}€", "Gesamtbetrag", f"54,80{NBSP}€",
    ):
        assert expected in strings, expected
    assert "Rabatt" not in strings  # no discount, no discount row
    assert strings.index("Gesamtbetrag") > strings.index("Versand") > strings.index("Zwischensumme")


@pytest.mark.parametrize(
    ("locale", "total", "labels", "date"),
    [
        ("en", "€54.80", ("Invoice", "Subtotal", "Included tax", "Total"), "Date: March 5, 2026"),
        ("en-US", "€54.80", ("Invoice", "Qty", "Unit price"), "Date: March 5, 2026"),
        ("fr-FR", f"54,80{NBSP}€", ("Facture", "Sous-total", "Dont TVA", "Total"), "Date: 5 mars 2026"),
        ("es", f"54,80{NBSP}€", ("Factura", "Envío", "Impuestos incluidos"), "Fecha: 5 de marzo de 2026"),
        ("it_IT", f"54,80{NBSP}€", ("Fattura", "Spedizione", "Totale"), "Data: 5 marzo 2026"),
        ("nl-NL", f"€{NBSP}54,80", ("Factuur", "Verzending", "Totaal"), "Datum: 5 maart 2026"),
        ("pt-BR", f"€{NBSP}54,80", ("Fatura", "Frete", "Impostos inclusos"), "Data: 5 de março de 2026"),
        ("ja", "€54.80", ("Invoice", "Total"), "Date: 2026年3月5日"),
    ],
)
def test_labels_dates_and_money_follow_the_locale(locale, total, labels, date):
    strings = pdf_strings(render(locale=locale))
    assert total in strings
    for label in labels:
        assert label in strings, label
    if locale == "ja":
        # labels fall back to English; a Japanese date cannot be drawn by the core font
        assert any(s.startswith("Date: 2026?3?5?") for s in strings)
    else:
        assert date in strings


def test_brazilian_reais_and_a_discount_row():
    order = make_order(currency="BRL", discount=Decimal("5.00"), subtotal=Decimal("44.90"), total=Decimal("49.80"),
                       taxes_included=False, tax=Decimal("0"))
    strings = pdf_strings(render(order, locale="pt_BR"))
    assert f"R${NBSP}49,80" in strings
    assert "Desconto" in strings and f"-R${NBSP}5,00" in strings
    assert "Impostos" in strings and f"R${NBSP}0,00" in strings  # taxes not included: the row is always shown


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        ("49.90", "EUR", "de", f"49,90{NBSP}€"),
        ("49.90", "EUR", "en", "€49.90"),
        ("49.9", "BRL", "pt_BR", f"R${NBSP}49,90"),
        ("49.9", "BRL", "pt-BR", f"R${NBSP}49,90"),
        ("1249.5", "EUR", "de-DE", f"1.249,50{NBSP}€"),
        ("1249.5", "USD", "en-US", "$1,249.50"),
        ("49.9", "CHF", "de_CH", f"CHF{NBSP}49.90"),
        ("49.9", "EUR", "not a locale", "€49.90"),
        ("49.9", "EUR", None, "€49.90"),
    ],
)
def test_format_money(amount, currency, locale, expected):
    assert format_money(Decimal(amount), currency, locale) == expected


def test_same_input_gives_the_same_bytes():
    assert render() == render()
    assert render() != render(issued_at=datetime(2026, 3, 6, 9, 30, tzinfo=timezone.utc))
    naive = datetime(2026, 3, 5, 9, 30)
    assert render(issued_at=naive) == render()  # naive datetimes are taken as UTC


def test_a_sixty_line_order_spans_pages_with_column_titles_on_each():
    lines = tuple(
        LineItem(product_id=str(i), variant_id=f"v{i}",
                 title=f"Single origin coffee number {i:02d}, roasted for filter",
                 quantity=i % 3 + 1, unit_price=Decimal("12.50"), variant_title="250 g")
        for i in range(60)
    )
    pdf = render(make_order(lines=lines, subtotal=Decimal("1500.00"), total=Decimal("1504.90")), locale="en")
    strings = pdf_strings(pdf)
    pages = page_count(pdf)
    assert pages >= 2
    text = " ".join(strings)  # a title may wrap onto a second line
    for i in range(60):
        assert f"Single origin coffee number {i:02d}, roasted for filter – 250 g" in text
    assert strings.count("Unit price") == pages
    assert f"Page {pages} of " in strings or f"Page {pages} of {pages}" in strings
    assert str(pages) in strings
    assert "€1,504.90" in strings
    assert strings[-1] != "" and "Thank you for your order." in strings


def test_long_titles_wrap_inside_the_item_column():
    title = "An exceptionally long product title that cannot possibly fit into the item column of the invoice"
    lines = (LineItem(product_id="1", variant_id="1", title=title, quantity=1, unit_price=Decimal("49.90")),)
    strings = pdf_strings(render(make_order(lines=lines), locale="en"))
    wrapped = [s for s in strings if s and s in title]
    assert len(wrapped) >= 2 and " ".join(wrapped) == title


def test_characters_outside_windows_1252_are_transliterated_not_fatal():
    order = make_order(billing_address={"name": "Łukasz Żółć", "address1": "ul. Długa 5", "city": "Łódź"},
                       lines=(LineItem(product_id="1", variant_id="1", title="咖啡 Kaffee", quantity=1,
                                       unit_price=Decimal("49.90")),))
    strings = pdf_strings(render(order, locale="fr"))
    # ó is in Windows-1252 and stays; ł, ż, ć, ź are not and lose their marks
    assert "Lukasz Zólc" in strings and "ul. Dluga 5" in strings and "Lódz" in strings
    assert "?? Kaffee" in strings
    assert pdf_safe(f"1\u202f249,90{NBSP}€ – “ok”") == f"1{NBSP}249,90{NBSP}€ – “ok”"


def test_without_a_billing_address_the_customer_is_billed():
    strings = pdf_strings(render(make_order(billing_address={}), locale="en"))
    assert "Bill to" in strings and "Maria Silva" in strings and "maria@example.com" in strings


@pytest.mark.parametrize(
    ("name", "order_id", "expected"),
    [
        ("#1001", "5550001", "invoice-1001.pdf"),
        ("#SO-1001/A", "1", "invoice-SO-1001-A.pdf"),
        ("Bestellung Nr. 7", "1", "invoice-Bestellung-Nr-7.pdf"),
        ("#", "5550001", "invoice-5550001.pdf"),
        ("", "../../etc", "invoice-etc.pdf"),
        ("", "", "invoice-order.pdf"),
    ],
)
def test_invoice_filename(name, order_id, expected):
    assert invoice_filename(make_order(name=name, order_id=order_id)) == expected
