"""Invoice PDFs for the order-confirmation document message, in the shopper's language.

fpdf2's built-in Helvetica keeps the file small and needs no font file on the server, but
it only covers the Windows-1252 character set (Western European letters, €, dashes and
quotes). Anything else (Polish ł, Greek, Cyrillic, CJK) is transliterated where a plain
Latin form exists and shown as ``?`` otherwise. Shops selling in other scripts need a
bundled TTF font, which is not done yet.
https://py-pdf.github.io/fpdf2/Unicode.html

Amounts are the store's own figures (subtotal, discount, shipping, tax, total): the invoice
must match what was charged, so nothing is recomputed here. The same input gives the same
bytes: the PDF's creation date is ``issued_at`` and nothing else varies.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import cast

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency
from fpdf import FPDF

from connector.events import Order
from connector.messaging.catalogue import DEFAULT_LANGUAGE, LANGUAGES, match_language

PDF_ENCODING = "windows-1252"
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
# characters outside Windows-1252 with an obvious stand-in (NFKD does not decompose these)
_STAND_INS = str.maketrans({
    "\u202f": "\u00a0", "\u2009": " ", "\u2212": "-", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D",
    "ø": "o", "Ø": "O", "ı": "i",
})

LABELS: dict[str, dict[str, str]] = {
    "en": dict(invoice="Invoice", invoice_number="Invoice number", date="Date", order="Order", bill_to="Bill to",
               item="Item", qty="Qty", unit_price="Unit price", amount="Amount", subtotal="Subtotal",
               discount="Discount", shipping="Shipping", tax="Tax", tax_included="Included tax", total="Total",
               tax_id="Tax ID", page="Page {page} of {pages}", thanks="Thank you for your order."),
    "de": dict(invoice="Rechnung", invoice_number="Rechnungsnummer", date="Datum", order="Bestellung",
               bill_to="Rechnungsadresse", item="Artikel", qty="Menge", unit_price="Einzelpreis", amount="Betrag",
               subtotal="Zwischensumme", discount="Rabatt", shipping="Versand", tax="MwSt.",
               tax_included="Enthaltene MwSt.", total="Gesamtbetrag", tax_id="USt-IdNr.",
               page="Seite {page} von {pages}", thanks="Vielen Dank für Ihre Bestellung."),
    "es": dict(invoice="Factura", invoice_number="Número de factura", date="Fecha", order="Pedido",
               bill_to="Facturar a", item="Artículo", qty="Cant.", unit_price="Precio unitario", amount="Importe",
               subtotal="Subtotal", discount="Descuento", shipping="Envío", tax="Impuestos",
               tax_included="Impuestos incluidos", total="Total", tax_id="NIF",
               page="Página {page} de {pages}", thanks="Gracias por tu pedido."),
    "fr": dict(invoice="Facture", invoice_number="Numéro de facture", date="Date", order="Commande",
               bill_to="Facturé à", item="Article", qty="Qté", unit_price="Prix unitaire", amount="Montant",
               subtotal="Sous-total", discount="Remise", shipping="Livraison", tax="TVA", tax_included="Dont TVA",
               total="Total", tax_id="N° TVA", page="Page {page} sur {pages}", thanks="Merci pour votre commande."),
    "it": dict(invoice="Fattura", invoice_number="Numero fattura", date="Data", order="Ordine", bill_to="Intestata a",
               item="Articolo", qty="Qtà", unit_price="Prezzo unitario", amount="Importo", subtotal="Subtotale",
               discount="Sconto", shipping="Spedizione", tax="IVA", tax_included="di cui IVA", total="Totale",
               tax_id="P. IVA", page="Pagina {page} di {pages}", thanks="Grazie per il tuo ordine."),
    "nl": dict(invoice="Factuur", invoice_number="Factuurnummer", date="Datum", order="Bestelling",
               bill_to="Factuuradres", item="Artikel", qty="Aantal", unit_price="Stukprijs", amount="Bedrag",
               subtotal="Subtotaal", discount="Korting", shipping="Verzending", tax="Btw",
               tax_included="Inclusief btw", total="Totaal", tax_id="Btw-nummer",
               page="Pagina {page} van {pages}", thanks="Bedankt voor je bestelling."),
    "pt_BR": dict(invoice="Fatura", invoice_number="Número da fatura", date="Data", order="Pedido",
                  bill_to="Faturar para", item="Item", qty="Qtd.", unit_price="Preço unitário", amount="Valor",
                  subtotal="Subtotal", discount="Desconto", shipping="Frete", tax="Impostos",
                  tax_included="Impostos inclusos", total="Total", tax_id="CNPJ",
                  page="Página {page} de {pages}", thanks="Obrigado pelo seu pedido."),
}
assert set(LABELS) == set(LANGUAGES)


@dataclass(frozen=True, slots=True)
class InvoiceShop:
    """The seller as printed on the invoice."""

    name: str
    address_lines: tuple[str, ...] = ()
    tax_id: str | None = None
    email: str | None = None


def babel_locale(locale: str | None) -> Locale:
    """A babel ``Locale`` for ``de-DE``, ``pt_BR``, ``fr``...; English when unknown."""
    try:
        return Locale.parse((locale or DEFAULT_LANGUAGE).strip().replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return Locale.parse(DEFAULT_LANGUAGE)


def format_money(amount: Decimal, currency: str, locale: str | None) -> str:
    """``49,90 €`` (de), ``€49.90`` (en), ``R$ 49,90`` (pt_BR): the locale's own way.

    Babel separates amount and sign with a no-break space where the locale wants one.
    """
    return format_currency(Decimal(amount), currency, locale=babel_locale(locale))


def invoice_filename(order: Order) -> str:
    """``invoice-1001.pdf`` from the order's display name, or its id: safe in any file system."""
    stem = _FILENAME_UNSAFE.sub("-", order.name or "").strip("-_")[:48]
    if not stem:
        stem = _FILENAME_UNSAFE.sub("-", order.order_id).strip("-_")[:48] or "order"
    return f"invoice-{stem}.pdf"


def pdf_safe(text: str) -> str:
    """``text`` reduced to what the built-in fonts can draw (see the module docstring)."""
    out = []
    for char in str(text).translate(_STAND_INS):
        if _encodable(char):
            out.append(char)
            continue
        plain = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        out.append(plain if plain and all(_encodable(c) for c in plain) else "?")
    return "".join(out)


def _encodable(char: str) -> bool:
    try:
        char.encode(PDF_ENCODING)
    except UnicodeEncodeError:
        return False
    return True


def render_invoice_pdf(
    order: Order, shop: InvoiceShop, *, locale: str, invoice_number: str, issued_at: datetime
) -> bytes:
    """The invoice of ``order`` as PDF bytes; labels in ``locale``'s language, money and date in its format."""
    language = match_language(locale, LABELS) or DEFAULT_LANGUAGE
    document = _InvoiceDocument(
        labels=LABELS[language], money=lambda value: format_money(value, order.currency, locale),
    )
    if issued_at.tzinfo is None:
        issued_at = issued_at.replace(tzinfo=timezone.utc)
    document.set_creation_date(issued_at)
    document.set_title(pdf_safe(f"{LABELS[language]['invoice']} {invoice_number}"))
    document.set_author(pdf_safe(shop.name))
    document.add_page()
    document.heading(shop, order, invoice_number, format_date(issued_at.date(), "long", locale=babel_locale(locale)))
    document.lines_table(order)
    document.totals(order)
    return bytes(document.output())


class _InvoiceDocument(FPDF):
    """A4 invoice layout: heading, line table with repeated column titles, totals, page footer."""

    COLUMNS = (95.0, 20.0, 32.5, 32.5)  # item, qty, unit price, amount (mm; 180 mm text width)
    LINE_HEIGHT = 5.0

    def __init__(self, *, labels: dict[str, str], money) -> None:
        super().__init__(format="A4", unit="mm")
        self.labels = labels
        self.money = money
        self.core_fonts_encoding = PDF_ENCODING  # Windows-1252 has € (Latin-1 does not)
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=20)
        self.alias_nb_pages("{pages}")
        self.set_font("Helvetica", size=10)

    def text_cell(self, width: float, text: str, *, align: str = "L", bold: bool = False, size: float = 10,
                  new_line: bool = False) -> None:
        self.set_font("Helvetica", "B" if bold else "", size)
        self.cell(width, self.LINE_HEIGHT + (size - 10) * 0.4, pdf_safe(text), align=align,
                  new_x="LMARGIN" if new_line else "RIGHT", new_y="NEXT" if new_line else "TOP")

    def footer(self) -> None:
        self.set_y(-15)
        page = self.labels["page"].format(page=self.page_no(), pages="{pages}")
        self.text_cell(0, page, align="C", size=8)

    def heading(self, shop: InvoiceShop, order: Order, invoice_number: str, issued_on: str) -> None:
        top = self.get_y()
        self.text_cell(100, shop.name, bold=True, size=14, new_line=True)
        for line in shop.address_lines:
            self.text_cell(100, line, new_line=True)
        if shop.email:
            self.text_cell(100, shop.email, new_line=True)
        if shop.tax_id:
            self.text_cell(100, f"{self.labels['tax_id']}: {shop.tax_id}", new_line=True)
        left_bottom = self.get_y()
        self.set_xy(115, top)
        self.text_cell(80, self.labels["invoice"], align="R", bold=True, size=16)
        for label, value in (("invoice_number", invoice_number), ("date", issued_on), ("order", order.name)):
            self.set_xy(115, self.get_y() + 8 if label == "invoice_number" else self.get_y() + self.LINE_HEIGHT)
            self.text_cell(80, f"{self.labels[label]}: {value}", align="R")
        self.set_y(max(left_bottom, self.get_y() + self.LINE_HEIGHT) + 6)
        address = _address_lines(order.billing_address) or _customer_lines(order)
        if address:
            self.text_cell(0, self.labels["bill_to"], bold=True, new_line=True)
            for line in address:
                self.text_cell(0, line, new_line=True)
        self.ln(6)

    def column_titles(self) -> None:
        titles = (self.labels["item"], self.labels["qty"], self.labels["unit_price"], self.labels["amount"])
        for width, title, align in zip(self.COLUMNS, titles, "LRRR", strict=True):
            self.text_cell(width, title, align=align, bold=True)
        self.ln(self.LINE_HEIGHT)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(1)

    def lines_table(self, order: Order) -> None:
        self.column_titles()
        for item in order.lines:
            title = item.title + (f" – {item.variant_title}" if item.variant_title else "")
            self.set_font("Helvetica", size=10)
            wrapped = self.multi_cell(self.COLUMNS[0], self.LINE_HEIGHT, pdf_safe(title), dry_run=True, output="LINES")
            height = self.LINE_HEIGHT * max(1, len(cast(list[str], wrapped)))  # output="LINES": the lines
            if self.will_page_break(height):
                self.add_page()
                self.column_titles()
            y = self.get_y()
            self.multi_cell(self.COLUMNS[0], self.LINE_HEIGHT, pdf_safe(title), new_x="RIGHT", new_y="TOP")
            self.set_xy(self.l_margin + self.COLUMNS[0], y)
            self.text_cell(self.COLUMNS[1], str(item.quantity), align="R")
            self.text_cell(self.COLUMNS[2], self.money(item.unit_price), align="R")
            self.text_cell(self.COLUMNS[3], self.money(item.unit_price * item.quantity), align="R")
            self.set_xy(self.l_margin, y + height)

    def totals(self, order: Order) -> None:
        rows = [(self.labels["subtotal"], order.subtotal, False)]
        if order.discount:
            rows.append((self.labels["discount"], -abs(order.discount), False))
        rows.append((self.labels["shipping"], order.shipping, False))
        if order.tax or not order.taxes_included:
            rows.append((self.labels["tax_included" if order.taxes_included else "tax"], order.tax, False))
        rows.append((self.labels["total"], order.total, True))
        if self.will_page_break(self.LINE_HEIGHT * (len(rows) + 3)):
            self.add_page()
        self.ln(2)
        self.line(self.l_margin + 95, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(2)
        for label, amount, bold in rows:
            self.set_x(self.l_margin + 95)
            self.text_cell(52.5, label, bold=bold)
            self.text_cell(32.5, self.money(amount), align="R", bold=bold, new_line=True)
        self.ln(8)
        self.text_cell(0, self.labels["thanks"], new_line=True)


def _address_lines(address: dict) -> list[str]:
    """Shopify / WooCommerce address dicts (``address1``/``address_1``, ``zip``/``postcode``...)."""
    if not address:
        return []
    get = lambda *keys: next((str(address[k]).strip() for k in keys if address.get(k)), "")  # noqa: E731
    name = get("name") or " ".join(filter(None, (get("first_name"), get("last_name"))))
    city_line = " ".join(filter(None, (get("zip", "postcode"), get("city"))))
    lines = [name, get("company"), get("address1", "address_1"), get("address2", "address_2"), city_line,
             get("province", "state"), get("country", "country_code")]
    return [line for line in lines if line]


def _customer_lines(order: Order) -> list[str]:
    customer = order.customer
    name = " ".join(filter(None, (customer.first_name, customer.last_name)))
    return [line for line in (name, customer.email) if line]
