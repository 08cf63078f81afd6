"""Issue 18: merchants' own templates. Stored per shop and versioned, validated as the catalogue's
files are, looked up merged with the catalogue (never shadowing it), submitted by the templates
sync and approved by Meta's status webhooks, queued with their variables and short links.

Through the real pieces: the `connector` command, the admin API, real RQ workers, the
sandbox's Graph endpoints over HTTP and its signed status webhooks into `/webhooks/whatsapp`.
"""

from __future__ import annotations

import copy
import json

import pytest
from sqlalchemy import func, select

from connector.automations.common import queue_template
from connector.extensions import db
from connector.messaging import catalogue, shop_catalogue
from connector.models import Message, ShopTemplate, ShopTemplateVersion, TemplateApproval
from tests.factories import make_contact, make_shop
from tests.test_admin_settings import auth, connected_shop

NAME = "spring_sale"


def body(text: str) -> dict:
    params = [name for name in ("customer_name", "offer", "shop_name") if "{{" + name + "}}" in text]
    samples = {"customer_name": "Maria", "offer": "20 %", "shop_name": "Demo Coffee"}
    return {"type": "BODY", "text": text, "example": {"body_text_named_params": [
        {"param_name": name, "example": samples[name]} for name in params]}}


def buttons(shop_label: str, stop_label: str) -> dict:
    return {"type": "BUTTONS", "buttons": [
        {"type": "URL", "text": shop_label, "url": "{app_url}/l/{{1}}", "example": ["{app_url}/l/Ab3dE9"]},
        {"type": "QUICK_REPLY", "text": stop_label}]}


def spring_sale(**changes) -> dict:
    """A merchant's marketing template in English and German, in the catalogue's JSON format."""
    document = {
        "name": NAME, "version": 1, "category": "MARKETING", "parameter_format": "NAMED",
        "description": "Spring sale, sent to the shop's regulars.",
        "buttons": [{"type": "URL", "suffix": "link_code"}, {"type": "QUICK_REPLY", "payload": "marketing_stop"}],
        "languages": {
            "en": {"components": [
                {"type": "HEADER", "format": "TEXT", "text": "Spring sale"},
                body("Hi {{customer_name}}, our spring sale has started: {{offer}} off everything at "
                     "{{shop_name}} this week."),
                {"type": "FOOTER", "text": "Reply STOP to opt out"},
                buttons("Shop the sale", "Stop promotions")]},
            "de": {"components": [
                {"type": "HEADER", "format": "TEXT", "text": "Frühlingsangebote"},
                body("Hallo {{customer_name}}, bei {{shop_name}} gibt es diese Woche {{offer}} Rabatt auf alles."),
                {"type": "FOOTER", "text": "Mit STOP abmelden"},
                buttons("Zum Angebot", "Keine Werbung")]},
        },
    }
    document.update(changes)
    return document


def with_text(document: dict, language: str, text: str) -> dict:
    changed = copy.deepcopy(document)
    components = changed["languages"][language]["components"]
    index = next(i for i, c in enumerate(components) if c["type"] == "BODY")
    components[index] = body(text)
    return changed


def write(tmp_path, document, name: str = "TEMPLATE.json"):
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document, ensure_ascii=False))
    return str(path)


def stored() -> list[ShopTemplate]:
    db.session.expire_all()
    return db.session.scalars(select(ShopTemplate)).all()


def version_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(ShopTemplateVersion))


def statuses(name: str) -> set[str]:
    db.session.expire_all()
    return {row.status for row in db.session.scalars(select(TemplateApproval).where(TemplateApproval.name == name))}


# -- the CLI -------------------------------------------------------------------------------------

def test_cli_create_stores_version_1_then_bumps_only_on_a_change(ctx, run, tmp_path):
    shop = make_shop()
    first = run("templates", "create", "--shop", str(shop.id), "--file", write(tmp_path, spring_sale()))
    assert first.exit_code == 0, first.output
    assert f"{NAME} v1 (created)" in first.output
    [row] = stored()
    assert (row.shop_id, row.name, row.version, row.category, row.created_by) == (shop.id, NAME, 1, "MARKETING",
                                                                                  "cli")
    assert row.definition == spring_sale()

    again = run("templates", "create", "--shop", str(shop.id), "--file", write(tmp_path, spring_sale(version=7)))
    assert again.exit_code == 0 and f"{NAME} v1 (unchanged)" in again.output  # the file's version is not ours
    assert version_rows() == 1

    edited = with_text(spring_sale(), "de",
                       "Hallo {{customer_name}}, nur heute {{offer}} Rabatt bei {{shop_name}}, solange es reicht.")
    bumped = run("templates", "create", "--shop", str(shop.id), "--file", write(tmp_path, edited), "--json")
    assert bumped.exit_code == 0, bumped.output
    assert json.loads(bumped.output.splitlines()[0]) == {"name": NAME, "version": 2, "outcome": "updated",
                                                         "queued": True}
    [row] = stored()
    assert row.version == 2 and row.definition["version"] == 2 and "nur heute" in json.dumps(row.definition)
    history = db.session.scalars(select(ShopTemplateVersion).order_by(ShopTemplateVersion.version)).all()
    assert [(v.version, "nur heute" in json.dumps(v.definition)) for v in history] == [(1, False), (2, True)]


def _too_long(document):
    return with_text(document, "en", "Hi {{customer_name}}, " + "sale " * 220 + "at {{shop_name}}, {{offer}} off.")


def _static_url(document):
    document["languages"]["en"]["components"][3]["buttons"][0]["url"] = "{app_url}/sale"
    return document


def _unknown_key(document):
    document["languages"]["de"]["components"][1]["junk"] = "x" * 100
    return document


def _no_opt_out(document):
    document["buttons"] = document["buttons"][:1]
    for variant in document["languages"].values():
        variant["components"][3]["buttons"] = variant["components"][3]["buttons"][:1]
    return document


def _cod_payload(document):
    document["category"] = "UTILITY"  # which needs no opt-out button
    document["buttons"][1]["payload"] = "cod_confirm"
    return document


def _other_language(document):
    document["languages"]["ja"] = document["languages"]["en"]
    return document


@pytest.mark.parametrize("breaks, says", [
    (lambda d: "{not json", "not readable JSON"),
    (lambda d: {**d, "name": "cart_reminder_1"}, "catalogue template's name"),
    (_too_long, "Meta allows 1024"),
    (_static_url, "{app_url}/l/{{1}}"),
    (_unknown_key, "unknown keys ['junk']"),
    (_no_opt_out, "marketing_stop"),
    (_cod_payload, "are the catalogue's"),
    (_other_language, "not ['ja']"),
    (lambda d: {**d, "category": "AUTHENTICATION"}, "category"),
    (lambda d: with_text(d, "de", "Hallo {{customer_name}}, nur {{offer}} Rabatt heute."), "differ from en"),
], ids=["json", "catalogue_name", "body_length", "static_url", "unknown_key", "opt_out", "reserved_payload",
        "language", "category", "parameters"])
def test_cli_create_refuses_an_invalid_template_with_exit_2_and_stores_nothing(ctx, run, tmp_path, breaks, says):
    shop = make_shop()
    document = breaks(spring_sale())
    result = run("templates", "create", "--shop", str(shop.id), "--file", write(tmp_path, document))
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and says in result.output
    assert stored() == [] and version_rows() == 0


def _at(path, value):
    def put(document):
        node = document
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return document
    return put


#: values of the wrong type where the rules expect a text, a list or an object (found by fuzzing
#: parse_shop_template: each was a TypeError or AttributeError, a 500 in the admin, before the shape checks)
WRONG_TYPES = [
    _at(["category"], {}), _at(["buttons"], True), _at(["buttons", 1, "type"], [1]),
    _at(["languages", "en", "components"], 1.5), _at(["languages", "de"], "components"),
    _at(["languages", "en", "components", 1, "example", "body_text_named_params", 0, "param_name"], []),
    _at(["languages", "en", "components", 1, "example"], "x"),
    _at(["languages", "en", "components", 3, "buttons", 0, "example"], {"a": 1}),
    _at(["languages", "de", "components", 3, "buttons"], [[]]),
]


@pytest.mark.parametrize("breaks", WRONG_TYPES)
def test_a_value_of_the_wrong_type_anywhere_is_refused_not_a_crash(ctx, run, client, fake_shopify, tmp_path, breaks):
    connected_shop(fake_shopify)
    document = breaks(spring_sale())
    result = run("templates", "create", "--shop", fake_shopify.shop_domain, "--file", write(tmp_path, document))
    assert result.exit_code == 2 and "error:" in result.output, result.output
    answer = client.post("/admin/api/templates", json=document, headers=auth(fake_shopify))
    assert answer.status_code == 422, answer.get_data(as_text=True)
    assert stored() == []


def test_cli_list_shows_the_shop_templates_beside_the_catalogue(ctx, run, tmp_path):
    shop = make_shop()
    assert run("templates", "create", "--shop", str(shop.id), "--file", write(tmp_path, spring_sale())).exit_code == 0
    listing = run("templates", "list", "--shop", str(shop.id), "--json")
    lines = [json.loads(line) for line in listing.output.splitlines()]
    by_name = {line["name"]: line for line in lines}
    assert set(catalogue.load_catalogue().names) < set(by_name)
    assert by_name[NAME] == {"name": NAME, "source": "shop", "version": 1, "category": "MARKETING",
                             "statuses": {"de": "NOT_SUBMITTED", "en": "NOT_SUBMITTED"}}
    assert by_name["cart_reminder_1"]["source"] == "catalogue"


# -- the lookup ----------------------------------------------------------------------------------

def test_the_lookup_merges_the_catalogue_and_the_shop_s_own_and_nothing_shadows_the_catalogue(ctx):
    shop, other = make_shop(), make_shop("other-shop.myshopify.com", phone_number_id="1000002")
    shop_catalogue.save(shop.id, spring_sale(), created_by="test", source="spring.json")
    db.session.commit()
    names = list(shop_catalogue.templates_for(shop.id))
    assert names == [*catalogue.load_catalogue().names, NAME]
    own = shop_catalogue.template_for(shop.id, NAME)
    assert (own.version, own.category, own.purpose, own.languages) == (1, "MARKETING", "marketing", ("de", "en"))
    assert own.parameters == {"customer_name", "offer", "shop_name"}
    assert shop_catalogue.template_for(shop.id, "cart_reminder_1") is catalogue.load_catalogue().get("cart_reminder_1")
    with pytest.raises(catalogue.UnknownTemplateError):
        shop_catalogue.template_for(other.id, NAME)  # another shop's template is not this one's
    assert NAME not in shop_catalogue.templates_for(other.id)
    with pytest.raises(catalogue.UnknownTemplateError):
        shop_catalogue.template_for(shop.id, "no_such_template")

    with pytest.raises(shop_catalogue.NameTakenError):
        shop_catalogue.save(shop.id, {**spring_sale(), "name": "cart_reminder_1"}, created_by="test", source="x")
    # a row written past the validation (an old version of the code, a hand-made row) does not win either
    db.session.add(ShopTemplate(shop_id=shop.id, name="cart_reminder_1", version=1, category="MARKETING",
                                definition={**spring_sale(), "name": "cart_reminder_1"}, created_by="hand"))
    db.session.commit()
    assert shop_catalogue.template_for(shop.id, "cart_reminder_1") is catalogue.load_catalogue().get("cart_reminder_1")
    assert shop_catalogue.templates_for(shop.id)["cart_reminder_1"].source == "cart_reminder_1.json"


def test_a_template_in_one_language_only_is_sent_in_it_whatever_the_contact_speaks(ctx):
    shop = make_shop()
    german = spring_sale()
    del german["languages"]["en"]
    shop_catalogue.save(shop.id, german, created_by="test", source="x")
    db.session.commit()
    definition = shop_catalogue.template_for(shop.id, NAME)
    assert definition.languages == ("de",) and definition.parameters == {"customer_name", "offer", "shop_name"}
    assert catalogue.choose_language(definition, "fr", "en") == "de"


# -- submission, approval and sending ------------------------------------------------------------

def test_sync_submits_the_shop_template_a_webhook_approves_it_and_an_edit_is_resubmitted(ctx, run, drain, sandbox,
                                                                                       tmp_path):
    shop = make_shop()
    created = run("templates", "create", "--shop", str(shop.id), "--file", write(tmp_path, spring_sale()))
    assert created.exit_code == 0 and "submission to Meta queued" in created.output
    # the worker runs the sync; the sandbox approves and posts signed status webhooks, which a worker records
    assert drain(lambda: statuses(NAME) == {"APPROVED"})
    records = [t for t in sandbox.templates() if t["name"] == NAME]
    assert sorted(t["language"] for t in records) == ["de", "en"]
    assert {t["name"] for t in sandbox.templates()} == {NAME}  # only what changed was submitted
    en = next(t for t in records if t["language"] == "en")
    assert en["category"] == "MARKETING" and "{app_url}" not in json.dumps(en["body"])
    assert "/l/{{1}}" in json.dumps(en["body"])
    ids = {t["language"]: t["id"] for t in records}

    edited = with_text(spring_sale(), "en", "Hi {{customer_name}}, last days of the sale: {{offer}} off at "
                                            "{{shop_name}} today.")
    assert run("templates", "create", "--shop", str(shop.id), "--file", write(tmp_path, edited)).exit_code == 0
    assert drain(lambda: {(r.version, r.status) for r in db.session.scalars(select(TemplateApproval))}
                 == {(2, "APPROVED")})
    records = [t for t in sandbox.templates() if t["name"] == NAME]
    assert {t["language"]: t["id"] for t in records} == ids  # edited at Meta (POST /{template-id}), not re-created
    assert "last days of the sale" in json.dumps(next(t for t in records if t["language"] == "en")["body"])


def test_a_shop_template_is_queued_with_recipient_values_and_a_tracked_link_and_sent(ctx, drain, sandbox):
    shop = make_shop()
    shop.name = "Kaffee Klein"
    shop_catalogue.save(shop.id, spring_sale(), created_by="test", source="x")
    db.session.add_all([TemplateApproval(shop_id=shop.id, name=NAME, language=language, version=1,
                                         category="MARKETING", status="APPROVED") for language in ("en", "de")])
    db.session.commit()
    contact = make_contact(shop)  # Maria Muster, locale de
    queued = queue_template(shop=shop, contact=contact, automation="campaign", template=NAME, key="campaign:1:1",
                            params={"offer": "20 %"}, links=["https://demo-shop.myshopify.com/collections/sale"])
    db.session.commit()
    message = db.session.get(Message, queued.message.id)
    assert (message.language, message.purpose) == ("de", "marketing")
    assert message.content["body"] == {"customer_name": "Maria", "offer": "20 %", "shop_name": "Kaffee Klein"}
    code = message.content["buttons"][0]["url_suffix"]
    assert drain(lambda: db.session.get(Message, queued.message.id).status in ("sent", "delivered", "read"))
    [sent] = sandbox.messages()
    assert sent["payload"]["template"]["name"] == NAME
    follow = ctx.test_client().get(f"/l/{code}")
    assert follow.status_code in (302, 303) and follow.headers["Location"].startswith(
        "https://demo-shop.myshopify.com/collections/sale")


# -- the admin API -------------------------------------------------------------------------------

def test_admin_creates_edits_lists_and_reads_a_shop_template(ctx, client, fake_shopify):
    shop = connected_shop(fake_shopify)
    headers = auth(fake_shopify)
    created = client.post("/admin/api/templates", json=spring_sale(), headers=headers)
    assert created.status_code == 201, created.get_json()
    answer = created.get_json()
    assert answer["outcome"] == "created" and answer["submission_queued"] is True
    assert answer["template"]["version"] == 1 and answer["template"]["created_by"] == "42"
    assert client.post("/admin/api/templates", json=spring_sale(), headers=headers).status_code == 409

    edited = with_text(spring_sale(), "en", "Hi {{customer_name}}, get {{offer}} off at {{shop_name}} until Sunday.")
    del edited["name"]
    put = client.put(f"/admin/api/templates/{NAME}", json=edited, headers=headers)
    assert put.status_code == 200, put.get_json()
    assert (put.get_json()["outcome"], put.get_json()["template"]["version"]) == ("updated", 2)
    same = client.put(f"/admin/api/templates/{NAME}", json=edited, headers=headers)
    assert (same.get_json()["outcome"], same.get_json()["submission_queued"]) == ("unchanged", False)
    renamed = client.put(f"/admin/api/templates/{NAME}", json={**edited, "name": "autumn_sale"}, headers=headers)
    assert renamed.status_code == 422 and "name" in renamed.get_json()["errors"]

    listing = client.get("/admin/api/templates", headers=headers).get_json()["templates"]
    mine = next(t for t in listing if t["name"] == NAME)
    assert mine == {"name": NAME, "category": "MARKETING", "source": "shop", "version": 2,
                    "languages": [{"language": "de", "status": "NOT_SUBMITTED", "rejected_reason": None},
                                  {"language": "en", "status": "NOT_SUBMITTED", "rejected_reason": None}]}
    assert next(t for t in listing if t["name"] == "cart_reminder_1")["source"] == "catalogue"
    one = client.get(f"/admin/api/templates/{NAME}", headers=headers).get_json()
    assert [v["version"] for v in one["versions"]] == [1, 2] and "until Sunday" in json.dumps(one["definition"])
    assert client.get("/admin/api/templates/cart_reminder_1", headers=headers).get_json()["source"] == "catalogue"
    assert db.session.scalar(select(func.count()).select_from(ShopTemplate).where(ShopTemplate.shop_id == shop.id)) == 1

    # Meta keeps an approved template's category: the edit is refused before anything is stored
    db.session.add(TemplateApproval(shop_id=shop.id, name=NAME, language="en", version=2, category="MARKETING",
                                    status="APPROVED"))
    db.session.commit()
    utility = client.put(f"/admin/api/templates/{NAME}", json={**edited, "category": "UTILITY"}, headers=headers)
    assert utility.status_code == 422 and "category" in utility.get_json()["errors"]
    assert [(row.version, row.category) for row in stored()] == [(2, "MARKETING")]


def test_admin_answers_422_in_marshmallow_s_shape_and_stores_nothing(ctx, client, fake_shopify):
    connected_shop(fake_shopify)
    headers = auth(fake_shopify)
    cases = [
        (_too_long(spring_sale()), ["languages", "en"]),
        ({**spring_sale(), "name": "cart_reminder_1"}, ["name"]),
        ({**spring_sale(), "category": "AUTHENTICATION"}, ["category"]),
        ({**spring_sale(), "surprise": 1}, ["surprise"]),
        (_other_language(spring_sale()), ["languages", "ja"]),
        (_no_opt_out(spring_sale()), ["_schema"]),
        ({"name": NAME}, ["category"]),
    ]
    for document, path in cases:
        response = client.post("/admin/api/templates", json=document, headers=headers)
        assert response.status_code == 422, (path, response.get_json())
        errors = response.get_json()["errors"]
        for key in path:
            assert key in errors, (path, errors)
            errors = errors[key]
    assert stored() == [] and version_rows() == 0
    assert client.post("/admin/api/templates", data=b"{not json", headers={**headers, "Content-Type":
                                                                           "application/json"}).status_code == 400


def test_admin_preview_renders_a_definition_without_storing_it(ctx, client, fake_shopify):
    shop = connected_shop(fake_shopify)
    shop.name = "Kaffee Klein"
    db.session.commit()
    headers = auth(fake_shopify)
    response = client.post("/admin/api/templates/preview", headers=headers,
                           json={"definition": spring_sale(), "variables": {"offer": "30 %"}})
    assert response.status_code == 200, response.get_json()
    previews = response.get_json()["previews"]
    assert previews["en"] == ("Spring sale\n\nHi Maria, our spring sale has started: 30 % off everything at "
                              "Kaffee Klein this week.\n\nReply STOP to opt out\n\n[Shop the sale]\n[Stop promotions]")
    assert set(previews) == {"en", "de"}
    only_de = client.post("/admin/api/templates/preview", headers=headers,
                          json={"definition": spring_sale(), "language": "de"}).get_json()["previews"]
    assert list(only_de) == ["de"] and "20 % Rabatt" in only_de["de"]
    unknown = client.post("/admin/api/templates/preview", headers=headers,
                          json={"definition": spring_sale(), "variables": {"coupon": "X"}})
    assert unknown.status_code == 422 and "coupon" in unknown.get_json()["errors"]["variables"]
    invalid = client.post("/admin/api/templates/preview", headers=headers,
                          json={"definition": _too_long(spring_sale())})
    assert invalid.status_code == 422 and "en" in invalid.get_json()["errors"]["definition"]["languages"]
    assert stored() == []


def test_admin_another_shop_s_template_is_404(ctx, client, fake_shopify):
    mine = connected_shop(fake_shopify)
    theirs = make_shop("other-shop.myshopify.com", phone_number_id="1000002")
    shop_catalogue.save(theirs.id, spring_sale(), created_by="test", source="x")
    db.session.commit()
    headers = auth(fake_shopify)
    assert client.get(f"/admin/api/templates/{NAME}", headers=headers).status_code == 404
    assert client.put(f"/admin/api/templates/{NAME}", json=spring_sale(), headers=headers).status_code == 404
    assert all(t["name"] != NAME for t in client.get("/admin/api/templates", headers=headers).get_json()["templates"])
    # the same name is free for this shop: names are unique per shop
    assert client.post("/admin/api/templates", json=spring_sale(), headers=headers).status_code == 201
    assert {row.shop_id for row in stored()} == {mine.id, theirs.id}


def test_the_routes_and_their_schemas_are_in_the_openapi_document(client):
    document = client.get("/admin/api/openapi.json").get_json()
    paths, schemas = document["paths"], document["components"]["schemas"]
    assert set(paths["/admin/api/templates"]) == {"get", "post"}
    assert set(paths["/admin/api/templates/{name}"]) == {"get", "put"}
    create = paths["/admin/api/templates"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TemplateDefinition"}
    assert {"201", "409", "422"} <= set(create["responses"])
    assert {"name", "category", "parameter_format", "buttons", "languages"} <= set(
        schemas["TemplateDefinition"]["properties"])
    assert "definition" in schemas["PreviewBody"]["properties"]
    assert "404" in paths["/admin/api/templates/{name}"]["put"]["responses"]
