"""The shop's own WhatsApp templates in the admin (connector/messaging/shop_catalogue.py).

``POST /admin/api/templates`` creates one (201), ``GET``/``PUT /admin/api/templates/<name>``
read and edit one (an edit that changes it is a new version), ``POST
/admin/api/templates/preview`` renders a definition with sample values without storing it.
A body is one template in the catalogue's JSON format (``version`` optional and ignored: the
stored version counts). A stored or changed template is queued for submission to Meta (the
templates sync job) when the shop has a WABA. The listing with Meta's verdicts stays
``GET /admin/api/templates`` (admin_records.py).

Each route behind ``session_required`` and scoped to ``g.shop``: another shop's template name
answers 404 like a missing one. Invalid input answers 422 with marshmallow's nested errors
(the catalogue's rules under ``languages.<code>`` or ``_schema``), and nothing is stored.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, g, jsonify, request
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy import select

from connector.extensions import db
from connector.jobs.templates import enqueue_template_sync
from connector.messaging import catalogue, shop_catalogue
from connector.models import Shop, ShopTemplate, TemplateApproval
from connector.models.shop_templates import SHOP_TEMPLATE_CATEGORIES
from connector.web.admin_auth import session_required
from connector.web.admin_records import NOT_SUBMITTED, SETTLED, TemplateLanguageSchema
from connector.web.apidoc import documented
from connector.web.errors import storable_json_object

bp = Blueprint("admin_templates", __name__, url_prefix="/admin/api")

#: longest variable value a preview takes (a sent value is cut at MAX_PARAMETER_CHARS)
MAX_PREVIEW_VALUE = 1000


# -- body schemas: the catalogue's JSON format (template_validation checks the rest) ----------------

class ButtonActionSchema(Schema):
    class Meta:
        unknown = RAISE

    type = fields.String(required=True, validate=validate.OneOf(["URL", "QUICK_REPLY"]))
    suffix = fields.String(validate=validate.Length(1, 64),
                           metadata={"description": "URL: what the dynamic suffix is (link_code: the short link)"})
    payload = fields.String(validate=validate.Length(1, 64),
                            metadata={"description": f"QUICK_REPLY: what comes back; {catalogue.OPT_OUT_PAYLOAD} "
                                                     "is the opt-out every MARKETING template needs"})


class LanguageContentSchema(Schema):
    class Meta:
        unknown = RAISE

    components = fields.List(fields.Dict(), required=True, validate=validate.Length(1, 4), metadata={
        "description": "HEADER?, BODY, FOOTER?, BUTTONS? exactly as POST /{waba_id}/message_templates takes them; "
                       "a URL button's url is {app_url}/l/{{1}}"})


class TemplateDefinitionSchema(Schema):
    """One template in the catalogue's JSON format (a connector/templates/whatsapp/<name>.json file)."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=[validate.Length(1, 512), validate.Regexp(catalogue.TEMPLATE_NAME)],
                         metadata={"description": "lowercase letters, digits, underscores; no catalogue name"})
    version = fields.Integer(validate=validate.Range(1, 2**31 - 1),
                             metadata={"description": "ignored: the stored version counts"})
    category = fields.String(required=True, validate=validate.OneOf(SHOP_TEMPLATE_CATEGORIES))
    parameter_format = fields.String(required=True, validate=validate.Equal("NAMED"))
    description = fields.String(validate=validate.Length(max=500))
    buttons = fields.List(fields.Nested(ButtonActionSchema), validate=validate.Length(max=catalogue.MAX_BUTTONS),
                          metadata={"description": "what each button does, in every language the same"})
    languages = fields.Dict(keys=fields.String(validate=validate.OneOf(catalogue.LANGUAGES)),
                            values=fields.Nested(LanguageContentSchema), required=True,
                            validate=validate.Length(min=1),
                            metadata={"description": f"some of {', '.join(catalogue.LANGUAGES)}"})


class PreviewBodySchema(Schema):
    class Meta:
        unknown = RAISE

    definition = fields.Nested(TemplateDefinitionSchema, required=True)
    variables = fields.Dict(keys=fields.String(validate=validate.Length(1, 64)),
                            values=fields.String(validate=validate.Length(max=MAX_PREVIEW_VALUE)), load_default=dict,
                            metadata={"description": "sample values; a variable not given shows the template's own "
                                                     "example (shop_name: the shop's name)"})
    language = fields.String(validate=validate.OneOf(catalogue.LANGUAGES), load_default=None,
                             metadata={"description": "one language; default: every language of the template"})


# -- response schemas ----------------------------------------------------------------------------

class ShopTemplateVersionSchema(Schema):
    version = fields.Integer(required=True)
    created_by = fields.String(required=True)
    created_at = fields.String(required=True)


class ShopTemplateSchema(Schema):
    name = fields.String(required=True)
    source = fields.String(required=True, metadata={"description": "shop, or catalogue (read only)"})
    version = fields.Integer(required=True)
    category = fields.String(required=True)
    definition = fields.Dict(required=True, metadata={"description": "the catalogue's JSON format"})
    created_by = fields.String(allow_none=True)
    updated_at = fields.String(allow_none=True)
    languages = fields.List(fields.Nested(TemplateLanguageSchema), required=True)
    versions = fields.List(fields.Nested(ShopTemplateVersionSchema), required=True,
                           metadata={"description": "every stored version, oldest first (empty: catalogue)"})


class ShopTemplateAnswerSchema(Schema):
    template = fields.Nested(ShopTemplateSchema, required=True)
    outcome = fields.String(metadata={"description": "created, updated (a new version) or unchanged"})
    submission_queued = fields.Boolean(metadata={
        "description": "a sync to Meta was queued (false: unchanged, or the shop has no WABA id yet)"})


class PreviewSchema(Schema):
    name = fields.String(required=True)
    previews = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                           metadata={"description": "language → the message as the shopper reads it"})


# -- helpers -------------------------------------------------------------------------------------

@bp.errorhandler(ValidationError)
def _invalid(error: ValidationError):
    return jsonify(errors=error.messages), 422


def _not_found():
    return jsonify(error="not_found", message="no such template"), 404


def _errors(error: catalogue.CatalogueError) -> dict[str, Any]:
    """A rule of the catalogue as marshmallow would say it: under the field or language it concerns."""
    detail = error.detail or str(error)
    if isinstance(error, shop_catalogue.NameTakenError):
        return {"name": [detail]}
    if error.language:
        return {"languages": {error.language: [detail]}}
    return {"_schema": [detail]}


def _own(name: str) -> ShopTemplate | None:
    if len(name) > 512:
        return None
    return db.session.scalars(select(ShopTemplate).where(ShopTemplate.shop_id == g.shop.id,
                                                         ShopTemplate.name == name)).first()


def _languages(shop_id: int, name: str, definition: catalogue.TemplateDefinition) -> list[dict[str, Any]]:
    rows = {row.language: row for row in db.session.scalars(select(TemplateApproval).where(
        TemplateApproval.shop_id == shop_id, TemplateApproval.name == name))}
    answer = []
    for language in definition.languages:
        row = rows.get(language)
        answer.append({"language": language, "status": row.status if row else NOT_SUBMITTED,
                       "rejected_reason": row.reason if row and row.status not in SETTLED else None})
    return answer


def _view(shop: Shop, row: ShopTemplate) -> dict[str, Any]:
    return {"name": row.name, "source": "shop", "version": row.version, "category": row.category,
            "definition": row.definition, "created_by": row.created_by, "updated_at": row.updated_at.isoformat(),
            "languages": _languages(shop.id, row.name, shop_catalogue.definition_of(row)),
            "versions": [{"version": v.version, "created_by": v.created_by, "created_at": v.created_at.isoformat()}
                         for v in shop_catalogue.versions(row)]}


def _queue_sync(shop: Shop, name: str) -> bool:
    account = shop.whatsapp
    if account is None or not account.waba_id:
        return False
    enqueue_template_sync(shop.id, [name])
    return True


def _store(body: dict[str, Any], *, create_only: bool):
    try:
        saved = shop_catalogue.save(g.shop.id, body, created_by=g.session_subject or "admin",
                                    source=f"template {body['name']}", create_only=create_only)
    except shop_catalogue.ShopTemplateExistsError as error:
        db.session.rollback()
        return jsonify(error="template_exists", message=error.detail), 409
    except catalogue.CatalogueError as error:
        db.session.rollback()
        raise ValidationError(_errors(error)) from None
    db.session.commit()
    queued = saved.outcome != shop_catalogue.UNCHANGED and _queue_sync(g.shop, saved.template.name)
    answer = {"template": _view(g.shop, saved.template), "outcome": saved.outcome, "submission_queued": queued}
    return answer, 201 if saved.outcome == shop_catalogue.CREATED else 200


# -- routes --------------------------------------------------------------------------------------

@bp.post("/templates")
@documented(summary="Create one of the shop's own templates and queue its submission to Meta",
            body=TemplateDefinitionSchema, response=ShopTemplateAnswerSchema, status=201, errors=(400, 409, 422),
            tag="templates")
@session_required
def create_template():
    """Validated as the catalogue's files are (Meta's limits, NAMED variables, an opt-out button
    on MARKETING) in some of the catalogue's languages; a catalogue name is refused (422), a
    name the shop has already answers 409 (edit it with PUT)."""
    body = TemplateDefinitionSchema().load(storable_json_object(request.get_data()))
    return _store(body, create_only=True)


@bp.get("/templates/<name>")
@documented(summary="One template: its definition, Meta's verdict per language, and its versions",
            response=ShopTemplateSchema, errors=(404,), tag="templates")
@session_required
def get_template(name: str):
    """The shop's own template, or a catalogue template (read only, ``versions`` empty)."""
    row = _own(name)
    if row is not None:
        return _view(g.shop, row)
    definition = catalogue.load_catalogue().templates.get(name)
    if definition is None:
        return _not_found()
    document = json.loads((catalogue.CATALOGUE_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return {"name": name, "source": "catalogue", "version": definition.version, "category": definition.category,
            "definition": document, "created_by": None, "updated_at": None,
            "languages": _languages(g.shop.id, name, definition), "versions": []}


@bp.put("/templates/<name>")
@documented(summary="Edit one of the shop's own templates: a change is a new version, submitted to Meta",
            body=TemplateDefinitionSchema, response=ShopTemplateAnswerSchema, errors=(400, 404, 422),
            tag="templates")
@session_required
def edit_template(name: str):
    """The whole definition again (``name`` may be left out; another name is 422). The same
    content answers ``unchanged``; Meta keeps an approved template's category, so changing it
    is 422 (create a template under a new name instead)."""
    row = _own(name)
    if row is None:
        return _not_found()
    raw = storable_json_object(request.get_data())
    raw.setdefault("name", name)
    body = TemplateDefinitionSchema().load(raw)
    if body["name"] != name:
        raise ValidationError({"name": [f"must be {name!r}: a new name is a new template (POST)"]})
    approved = db.session.scalar(select(TemplateApproval.id).where(
        TemplateApproval.shop_id == g.shop.id, TemplateApproval.name == name,
        TemplateApproval.status == "APPROVED").limit(1))
    if approved is not None and body["category"] != row.category:
        raise ValidationError({"category": [f"Meta keeps an approved template's category ({row.category}); "
                                            "create a new template instead"]})
    return _store(body, create_only=False)


@bp.post("/templates/preview")
@documented(summary="Render a template definition with sample values, without storing it",
            body=PreviewBodySchema, response=PreviewSchema, errors=(400, 422), tag="templates")
@session_required
def preview_template():
    """The message as the shopper reads it (header, body, footer, ``[button]`` lines) per
    language. The definition is checked as a create would check it (422 under ``definition``)."""
    body = PreviewBodySchema().load(storable_json_object(request.get_data()))
    data = {"version": 1, **body["definition"]}
    try:
        definition = shop_catalogue.validate(data, source=f"template {data['name']}")
    except catalogue.CatalogueError as error:
        raise ValidationError({"definition": _errors(error)}) from None
    unknown = sorted(set(body["variables"]) - definition.parameters)
    if unknown:
        raise ValidationError({"variables": {name: ["the template has no such variable"] for name in unknown}})
    languages = [body["language"]] if body["language"] else list(definition.languages)
    if body["language"] and body["language"] not in definition.variants:
        raise ValidationError({"language": ["the template has no such language"]})
    previews = {}
    for language in languages:
        values = {**_examples(definition.variant(language)), **body["variables"]}
        try:
            previews[language] = catalogue.preview_text(definition, language, values)
        except catalogue.RenderError as error:
            raise ValidationError({"variables": [str(error)]}) from None
    return {"name": definition.name, "previews": previews}


def _examples(variant: catalogue.LanguageVariant) -> dict[str, str]:
    """The template's own sample values (Meta requires one per variable), the shop's name for shop_name."""
    samples: dict[str, str] = {}
    for component in variant.components:
        if component.get("type") == "BODY":
            for item in (component.get("example") or {}).get("body_text_named_params") or ():
                samples[item["param_name"]] = item["example"]
    if "shop_name" in samples:
        samples["shop_name"] = g.shop.name or g.shop.domain
    return samples
