"""The WhatsApp template catalogue: the files themselves, the validator rule by rule, the
language fallback, and the content it renders (checked by building a real Cloud API body).
"""

from __future__ import annotations

import copy
import json
import shutil

import pytest

from connector.messaging.catalogue import (
    CATALOGUE_DIR,
    LANGUAGES,
    CatalogueError,
    RenderError,
    UnknownTemplateError,
    choose_language,
    creation_payload,
    load_catalogue,
    match_language,
    parse_reply_payload,
    parse_template,
    parse_texts,
    preview_text,
    render_content,
    texts,
)
from integrations.whatsapp.payloads import message_payload

EXPECTED = {
    "cart_reminder_1": "MARKETING", "cart_reminder_2": "MARKETING", "cart_reminder_discount": "MARKETING",
    "order_confirmation": "UTILITY", "shipping_shipped": "UTILITY", "shipping_out_for_delivery": "UTILITY",
    "shipping_delivered": "UTILITY", "shipping_delayed": "UTILITY", "back_in_stock": "MARKETING",
    "review_request": "MARKETING", "review_rating": "MARKETING", "optin_confirmation": "UTILITY",
    "cod_confirmation": "UTILITY", "test_message": "UTILITY", "campaign_announcement": "MARKETING",
    "repurchase_reminder": "MARKETING", "coupon_reminder": "MARKETING", "referral_invite": "MARKETING",
    "referral_reward": "MARKETING", "post_purchase_content": "UTILITY", "winback": "MARKETING",
}
ORDER_PARAMS = {"customer_name": "Maria", "order_number": "#1001", "order_total": "49,90\u00a0€"}


def raw(name: str) -> dict:
    return json.loads((CATALOGUE_DIR / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


# --- the files ---------------------------------------------------------------------------------


def test_catalogue_holds_every_template_with_its_category(catalogue):
    assert {name: catalogue.get(name).category for name in catalogue.names} == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_template_has_all_seven_languages_and_a_version(catalogue, name):
    definition = catalogue.get(name)
    assert set(definition.languages) == set(LANGUAGES)
    assert definition.version >= 1
    assert definition.purpose == {"MARKETING": "marketing", "UTILITY": "transactional"}[definition.category]


def test_marketing_templates_offer_stop_and_a_link(catalogue):
    for name in catalogue.names:
        definition = catalogue.get(name)
        if definition.category == "MARKETING":
            kinds = [(b.type, b.payload) for b in definition.buttons]
            assert ("QUICK_REPLY", "marketing_stop") in kinds
            assert kinds[0][0] == "URL"


def test_load_is_cached(catalogue):
    assert load_catalogue() is catalogue


def test_unknown_template(catalogue):
    with pytest.raises(UnknownTemplateError):
        catalogue.get("nope")


def test_a_broken_file_is_named_in_the_error(tmp_path):
    for file in CATALOGUE_DIR.glob("*.json"):
        shutil.copy(file, tmp_path / file.name)
    data = raw("shipping_shipped")
    data["languages"]["fr"]["components"][0]["text"] = "x" * 61
    (tmp_path / "shipping_shipped.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"shipping_shipped\.json \[fr\]: header text is 61 characters"):
        load_catalogue(tmp_path)


# --- the validator, rule by rule ----------------------------------------------------------------


def _components(data: dict, language: str = "de") -> dict:
    return {c["type"]: c for c in data["languages"][language]["components"]}


def _set_body(data: dict, text: str, language: str = "de") -> None:
    _components(data, language)["BODY"]["text"] = text


def mutate_long_body(d): _set_body(d, "Hallo {{customer_name}}, " + "x" * 1024 + " {{shop_name}} {{discount_code}} {{discount_value}} ok")  # noqa: E501,E704
def mutate_start(d): _set_body(d, "{{customer_name}}, bei {{shop_name}} {{discount_code}} und {{discount_value}} ok.")  # noqa: E704
def mutate_end(d): _set_body(d, "Hallo {{customer_name}}, {{shop_name}} x {{discount_value}} Code {{discount_code}}.")  # noqa: E704
def mutate_adjacent(d):
    _set_body(d, "Hallo {{customer_name}}, {{shop_name}} {{discount_code}} und {{discount_value}} ok.")
def mutate_positional(d): _set_body(d, "Hallo {{1}}, Code {{discount_code}} bei {{shop_name}}: {{discount_value}} ok.")  # noqa: E704
def mutate_tab(d):
    _set_body(d, "Hallo {{customer_name}},\tbei {{shop_name}} {{discount_code}} x {{discount_value}} ok.")
def mutate_spaces(d): _set_body(d, "Hallo {{customer_name}},      bei {{shop_name}} x {{discount_code}} x {{discount_value}} ok.")  # noqa: E704,E501
def mutate_button_text(d): _components(d)["BUTTONS"]["buttons"][0]["text"] = "Jetzt Bestellung abschließen"  # noqa: E704
def mutate_button_type(d): _components(d)["BUTTONS"]["buttons"][1]["type"] = "URL"  # noqa: E704
def mutate_button_url(d): _components(d)["BUTTONS"]["buttons"][0]["url"] = "https://evil.example/{{1}}"  # noqa: E704
def mutate_example_missing(d): del _components(d)["BODY"]["example"]  # noqa: E704
def mutate_example_newline(d): _components(d)["BODY"]["example"]["body_text_named_params"][0]["example"] = "Ma\nria"  # noqa: E704,E501
def mutate_example_wrong(d): _components(d)["BODY"]["example"]["body_text_named_params"][0]["param_name"] = "name"  # noqa: E704,E501


def mutate_params_differ(d):
    _set_body(d, "Hallo {{customer_name}}, bei {{shop_name}} gibt es {{discount_value}} Rabatt.")
    examples = _components(d)["BODY"]["example"]["body_text_named_params"]
    examples[:] = [e for e in examples if e["param_name"] != "discount_code"]

def mutate_component_order(d): d["languages"]["de"]["components"].reverse()  # noqa: E704


def mutate_too_many(d):
    names = [f"p{i}" for i in range(11)]
    body = "Hallo " + " und ".join(f"{{{{{n}}}}}" for n in names) + " ok."
    _set_body(d, body)
    _components(d)["BODY"]["example"]["body_text_named_params"] = [{"param_name": n, "example": "x"} for n in names]


def mutate_footer(d):
    d["languages"]["de"]["components"].insert(1, {"type": "FOOTER", "text": "f" * 61})


def mutate_header(d):
    d["languages"]["de"]["components"].insert(0, {"type": "HEADER", "format": "TEXT", "text": "h" * 61})


RULES = [
    (mutate_long_body, "Meta allows 1024"),
    (mutate_start, "may not start with a parameter"),
    (mutate_end, "may not end with a parameter"),
    (mutate_adjacent, "are adjacent"),
    (mutate_positional, "NAMED format"),
    (mutate_tab, "tabs"),
    (mutate_spaces, "4 consecutive spaces"),
    (mutate_too_many, "at most 10"),
    (mutate_button_text, "Meta allows 25"),
    (mutate_button_type, "button types"),
    (mutate_button_url, "must start with {app_url}/"),
    (mutate_example_missing, "body_text_named_params"),
    (mutate_example_newline, "newlines"),
    (mutate_example_wrong, "examples name"),
    (mutate_params_differ, "differ from en"),
    (mutate_component_order, "in that order"),
    (mutate_footer, "footer text is 61 characters; Meta allows 60"),
    (mutate_header, "header text is 61 characters; Meta allows 60"),
]


@pytest.mark.parametrize(("mutate", "message"), RULES, ids=[m.__name__ for m, _ in RULES])
def test_validator_rejects_each_rule_violation_naming_file_and_language(mutate, message):
    data = raw("cart_reminder_discount")
    parse_template(copy.deepcopy(data), source="cart_reminder_discount.json")  # the original passes
    mutate(data)
    with pytest.raises(CatalogueError) as error:
        parse_template(data, source="cart_reminder_discount.json")
    assert str(error.value).startswith("cart_reminder_discount.json [de]: ")
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(name="Cart_Reminder"), "lowercase"),
        (lambda d: d.update(name="cart_reminder_3"), "does not match the file name"),
        (lambda d: d.update(version="1"), "positive integer"),
        (lambda d: d.update(category="AUTHENTICATION"), "category"),
        (lambda d: d.update(parameter_format="POSITIONAL"), "NAMED"),
        (lambda d: d["languages"].pop("nl"), r"missing languages \['nl'\]"),
        (lambda d: d.update(buttons=[d["buttons"][0], {"type": "QUICK_REPLY", "payload": "other"}]), "marketing_stop"),
    ],
)
def test_validator_rejects_template_level_violations(change, message):
    data = raw("cart_reminder_discount")
    change(data)
    with pytest.raises(CatalogueError, match=message):
        parse_template(data, source="cart_reminder_discount.json")


def test_texts_file_rules():
    data = json.loads((CATALOGUE_DIR / "texts.json").read_text(encoding="utf-8"))
    parse_texts(copy.deepcopy(data))
    broken = copy.deepcopy(data)
    broken["fr"]["out_of_hours"] = broken["fr"]["out_of_hours"].replace("{hours}", "{heures}")
    with pytest.raises(CatalogueError, match=r"texts\.json \[fr\]: out_of_hours uses \['heures'\]"):
        parse_texts(broken)
    broken = copy.deepcopy(data)
    del broken["it"]["resumed"]
    with pytest.raises(CatalogueError, match=r"\[it\]: keys"):
        parse_texts(broken)


# --- languages -----------------------------------------------------------------------------------

FALLBACK_TABLE = [
    # contact locale, shop locale, expected
    ("de", "en", "de"),
    ("de-DE", None, "de"),
    ("de_AT", "fr", "de"),
    ("DE-ch", None, "de"),
    ("de_DE.UTF-8", None, "de"),
    ("pt-BR", None, "pt_BR"),
    ("pt_BR", None, "pt_BR"),
    ("pt_br", None, "pt_BR"),
    ("pt", None, "pt_BR"),
    ("pt-PT", None, "pt_BR"),
    ("en-US", "de", "en"),
    ("en_GB", None, "en"),
    ("EN", None, "en"),
    ("es-MX", None, "es"),
    ("fr-CA", None, "fr"),
    ("nl_BE", None, "nl"),
    ("it-CH", None, "it"),
    ("ja", "de-DE", "de"),
    ("ja", "zh", "en"),
    (None, "fr", "fr"),
    ("", "it_IT", "it"),
    ("  ", None, "en"),
    (None, None, "en"),
    ("xx-YY", "pl", "en"),
]


@pytest.mark.parametrize(("contact", "shop", "expected"), FALLBACK_TABLE)
def test_choose_language(catalogue, contact, shop, expected):
    assert choose_language(catalogue.get("order_confirmation"), contact, shop) == expected


def test_match_language_prefers_the_exact_region():
    assert match_language("en-US", ["en", "en_US"]) == "en_US"
    assert match_language("en-GB", ["en", "en_US"]) == "en"
    assert match_language("pt", ["pt_BR", "pt_PT"]) == "pt_BR"
    assert match_language("de", ["en"]) is None


def test_texts_follow_the_same_fallback():
    assert texts("de-AT")["out_of_hours"].startswith("Danke für Ihre Nachricht")
    assert texts("ja", "pt")["resumed"].startswith("Que bom")
    assert texts(None)["optout_confirmed"].startswith("Done:")
    assert "{hours}" in texts("nl")["out_of_hours"]
    assert texts("fr")["optout_confirmed"].format(shop_name="Demo").count("Demo") == 1


# --- rendering -----------------------------------------------------------------------------------


def test_render_order_confirmation_builds_a_cloud_api_template_message(catalogue):
    definition = catalogue.get("order_confirmation")
    content = render_content(
        definition, "de", ORDER_PARAMS,
        header={"link": "https://app.example/invoices/1001.pdf", "filename": "invoice-1001.pdf"},
        button_suffixes=["Ab3dE9"],
    )
    assert content == {
        "header": {"type": "document", "link": "https://app.example/invoices/1001.pdf", "filename": "invoice-1001.pdf"},
        "body": ORDER_PARAMS,
        "buttons": [{"index": 0, "url_suffix": "Ab3dE9"}],
    }
    payload = message_payload(to="+4915112345678", kind="template", content=content,
                              template_name=definition.name, language="de")
    template = payload["template"]
    assert template["name"] == "order_confirmation"
    assert template["language"] == {"policy": "deterministic", "code": "de"}
    header, body, button = template["components"]
    assert header == {"type": "header", "parameters": [{"type": "document", "document": {
        "link": "https://app.example/invoices/1001.pdf", "filename": "invoice-1001.pdf"}}]}
    assert body["type"] == "body"
    assert body["parameters"] == [
        {"type": "text", "parameter_name": "customer_name", "text": "Maria"},
        {"type": "text", "parameter_name": "order_number", "text": "#1001"},
        {"type": "text", "parameter_name": "order_total", "text": "49,90\u00a0€"},
    ]
    assert button == {"type": "button", "sub_type": "url", "index": "0",
                      "parameters": [{"type": "text", "text": "Ab3dE9"}]}


def test_render_cart_reminder_sends_the_stop_payload_with_the_quick_reply(catalogue):
    definition = catalogue.get("cart_reminder_discount")
    params = {"customer_name": "Jan", "shop_name": "Demo", "discount_code": "BACK10", "discount_value": "10 %"}
    content = render_content(definition, "nl", params, button_suffixes=["c0de"])
    payload = message_payload(to="+31612345678", kind="template", content=content,
                              template_name=definition.name, language="nl")
    components = payload["template"]["components"]
    assert [c["type"] for c in components] == ["body", "button", "button"]
    assert components[1]["sub_type"] == "url" and components[1]["parameters"][0]["text"] == "c0de"
    assert components[2] == {"type": "button", "sub_type": "quick_reply", "index": "1",
                             "parameters": [{"type": "payload", "payload": "marketing_stop"}]}


def test_cod_quick_replies_carry_the_order_reference(catalogue):
    content = render_content(catalogue.get("cod_confirmation"), "es", ORDER_PARAMS, reply_context="5550001")
    assert content["buttons"] == [
        {"index": 0, "sub_type": "quick_reply", "payload": "cod_confirm:5550001"},
        {"index": 1, "sub_type": "quick_reply", "payload": "cod_cancel:5550001"},
    ]
    assert parse_reply_payload("cod_cancel:5550001") == ("cod_cancel", "5550001")
    assert parse_reply_payload("marketing_stop") == ("marketing_stop", None)
    assert parse_reply_payload(None) == (None, None)


def test_parameter_whitespace_is_collapsed_not_rejected(catalogue):
    definition = catalogue.get("back_in_stock")
    content = render_content(definition, "en", {"product_name": "Blue\n\tmug      large", "shop_name": " Demo "},
                             button_suffixes=["x1"])
    assert content["body"] == {"product_name": "Blue mug large", "shop_name": "Demo"}
    long = render_content(definition, "en", {"product_name": "m" * 500, "shop_name": "Demo"}, button_suffixes=["x1"])
    assert len(long["body"]["product_name"]) == 200 and long["body"]["product_name"].endswith("…")


@pytest.mark.parametrize(
    ("params", "kwargs", "message"),
    [
        ({"customer_name": "Maria", "order_number": "#1"}, {}, r"missing parameters \['order_total'\]"),
        ({**ORDER_PARAMS, "coupon": "X"}, {}, r"unknown \['coupon'\]"),
        ({**ORDER_PARAMS, "customer_name": " \n "}, {}, "'customer_name' is empty"),
        ({**ORDER_PARAMS, "customer_name": None}, {}, "'customer_name' is empty"),
        (ORDER_PARAMS, {"header": None}, "needs a DOCUMENT header"),
        (ORDER_PARAMS, {"button_suffixes": []}, "1 URL buttons, got 0 suffixes"),
        (ORDER_PARAMS, {"button_suffixes": ["a b"]}, "without spaces"),
    ],
)
def test_render_errors(catalogue, params, kwargs, message):
    arguments = {"header": {"media_id": "123"}, "button_suffixes": ["abc"], **kwargs}
    with pytest.raises(RenderError, match=message):
        render_content(catalogue.get("order_confirmation"), "de", params, **arguments)


def test_render_rejects_a_header_for_a_text_template_and_an_unknown_language(catalogue):
    definition = catalogue.get("shipping_delivered")
    params = {"customer_name": "Maria", "order_number": "#1"}
    with pytest.raises(RenderError, match="no media header"):
        render_content(definition, "en", params, header={"link": "https://x/y.png"}, button_suffixes=["a"])
    with pytest.raises(RenderError, match="no language 'pt'"):
        render_content(definition, "pt", params, button_suffixes=["a"])


def test_every_template_renders_a_valid_payload_in_every_language(catalogue):
    for name in catalogue.names:
        definition = catalogue.get(name)
        urls = sum(1 for b in definition.buttons if b.type == "URL")
        header = {"media_id": "1"} if definition.header_format in ("DOCUMENT", "IMAGE") else None
        for language in definition.languages:
            params = {p: f"v-{p}" for p in definition.variant(language).parameters}
            content = render_content(definition, language, params, header=header, button_suffixes=["s"] * urls)
            message_payload(to="+4915112345678", kind="template", content=content, template_name=name,
                            language=language)
            text = preview_text(definition, language, params)
            assert "{{" not in text and all(f"v-{p}" in text for p in params)


def test_preview_text(catalogue):
    text = preview_text(catalogue.get("shipping_shipped"), "en", {
        "customer_name": "Maria", "order_number": "#1001", "carrier": "DHL", "tracking_number": "00340434"})
    assert text == (
        "Your order is on its way\n\n"
        "Hi Maria, good news: your order #1001 has shipped with DHL. Tracking number: 00340434. "
        "Tap the button below to follow your package.\n\n"
        "[Track package]"
    )


# --- creation --------------------------------------------------------------------------------------


def test_creation_payload_for_a_document_template(catalogue):
    payload = creation_payload(catalogue.get("order_confirmation"), "fr", app_url="https://wa.example.com/",
                               header_handle="4::aW1hZ2U=")
    assert set(payload) == {"name", "language", "category", "parameter_format", "components"}
    assert (payload["name"], payload["language"], payload["category"], payload["parameter_format"]) == (
        "order_confirmation", "fr", "UTILITY", "NAMED")
    header, body, buttons = payload["components"]
    assert header == {"type": "HEADER", "format": "DOCUMENT", "example": {"header_handle": ["4::aW1hZ2U="]}}
    assert body["type"] == "BODY" and "{{order_total}}" in body["text"]
    assert {e["param_name"] for e in body["example"]["body_text_named_params"]} == {
        "customer_name", "order_number", "order_total"}
    assert buttons == {"type": "BUTTONS", "buttons": [{
        "type": "URL", "text": "Voir la commande", "url": "https://wa.example.com/l/{{1}}",
        "example": ["https://wa.example.com/l/Ab3dE9"]}]}
    # the catalogue itself is untouched
    assert "{app_url}" in catalogue.get("order_confirmation").variant("fr").components[-1]["buttons"][0]["url"]


def test_creation_payload_for_quick_replies_and_its_preconditions(catalogue):
    payload = creation_payload(catalogue.get("optin_confirmation"), "pt_BR", app_url="https://wa.example.com")
    types = [c["type"] for c in payload["components"]]
    assert types == ["HEADER", "BODY", "FOOTER", "BUTTONS"]
    assert payload["components"][-1]["buttons"] == [
        {"type": "QUICK_REPLY", "text": "Sim, quero receber"}, {"type": "QUICK_REPLY", "text": "Agora não"}]
    with pytest.raises(ValueError, match="header_handle"):
        creation_payload(catalogue.get("order_confirmation"), "en", app_url="https://wa.example.com")
    with pytest.raises(ValueError, match="app_url"):
        creation_payload(catalogue.get("back_in_stock"), "en", app_url="wa.example.com")
