"""The templates a shop can send: the file catalogue merged with the shop's own.

Every piece of code that needs a template by name for a shop asks here: ``template_for(shop_id,
name)`` (``UnknownTemplateError`` when neither has it) and ``templates_for(shop_id)`` (all of
them, the catalogue's first). A shop's own template (``connector.models.ShopTemplate``) is
written in the catalogue's JSON format and checked by ``validate``: the catalogue's rules and
Meta's limits (``template_validation.parse_shop_template``), a name that is no catalogue
template's (so a shop can never shadow one, whose sends the automations rely on), and no
quick-reply payload that the inbound handlers act on (``cod_confirm``, ``optin_yes``, …) other
than the opt-out. ``save`` stores a new template or a new version of one.

Variables filled per recipient: a variable named ``customer_name`` gets the contact's first name
and ``shop_name`` the shop's name, as the automations fill them for the catalogue's templates
(``connector.automations.common.recipient_params``); every other variable is given by whoever
sends (a campaign's variables).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import select

from connector.dbutil import insert_or_ignore
from connector.extensions import db
from connector.messaging import catalogue
from connector.messaging.template_model import (
    OPT_OUT_PAYLOAD,
    CatalogueError,
    TemplateDefinition,
    UnknownTemplateError,
)
from connector.messaging.template_validation import parse_shop_template
from connector.models import ShopTemplate, ShopTemplateVersion, utcnow

#: what ``save`` did
CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


class NameTakenError(CatalogueError):
    """The name is a catalogue template's (or, on a create, already one of the shop's)."""


class ShopTemplateExistsError(NameTakenError):
    """A create named a template the shop has: edit it instead."""


@dataclass(frozen=True, slots=True)
class Saved:
    template: ShopTemplate
    definition: TemplateDefinition
    outcome: str  # CREATED | UPDATED | UNCHANGED


# -- lookup -----------------------------------------------------------------------------------

def template_for(shop_id: int, name: str) -> TemplateDefinition:
    """The template ``name`` as the shop sends it: the catalogue's, else the shop's own."""
    cat = catalogue.load_catalogue()
    if name in cat.templates:
        return cat.templates[name]
    row = db.session.scalars(select(ShopTemplate).where(ShopTemplate.shop_id == shop_id,
                                                        ShopTemplate.name == name)).first()
    if row is None:
        raise UnknownTemplateError(name)
    return definition_of(row)


def templates_for(shop_id: int) -> dict[str, TemplateDefinition]:
    """Every template the shop can send, by name: the catalogue's (sorted), then its own (sorted)."""
    cat = catalogue.load_catalogue()
    merged = {name: cat.templates[name] for name in cat.names}
    for name, definition in shop_templates(shop_id).items():
        merged.setdefault(name, definition)  # validate() keeps catalogue names out; an old row cannot win
    return merged


def shop_templates(shop_id: int) -> dict[str, TemplateDefinition]:
    """The shop's own templates only, by name (sorted)."""
    rows = db.session.scalars(select(ShopTemplate).where(ShopTemplate.shop_id == shop_id)
                              .order_by(ShopTemplate.name)).all()
    return {row.name: definition_of(row) for row in rows}


def definition_of(row: ShopTemplate) -> TemplateDefinition:
    """The stored definition, parsed (once per name, version and content in this process)."""
    return _parsed(row.name, row.version, json.dumps(row.definition, sort_keys=True))


@lru_cache(maxsize=512)
def _parsed(name: str, version: int, text: str) -> TemplateDefinition:
    return parse_shop_template(json.loads(text), source=f"shop template {name}")


# -- validation and storing -------------------------------------------------------------------

def _reserved_payloads() -> frozenset[str]:
    """Quick-reply payloads of the catalogue, which the inbound handlers act on."""
    cat = catalogue.load_catalogue()
    return frozenset(spec.payload for definition in cat.templates.values() for spec in definition.buttons
                     if spec.payload and spec.payload != OPT_OUT_PAYLOAD)


def validate(data: Any, *, source: str) -> TemplateDefinition:
    """A shop template document checked (``CatalogueError`` naming what is wrong), and parsed."""
    definition = parse_shop_template(data, source=source)
    if definition.name in catalogue.load_catalogue().templates:
        raise _error(NameTakenError, source, f"{definition.name!r} is a catalogue template's name; choose another")
    taken = sorted(spec.payload for spec in definition.buttons if spec.payload in _reserved_payloads())
    if taken:
        raise _error(CatalogueError, source, f"quick-reply payloads {taken} are the catalogue's; use "
                                             f"{OPT_OUT_PAYLOAD!r} or a payload of your own")
    return definition


def _error(kind: type[CatalogueError], source: str, detail: str) -> CatalogueError:
    error = kind(f"{source}: {detail}")
    error.detail = detail
    return error


def _content(data: dict) -> dict:
    return {key: value for key, value in data.items() if key != "version"}


def save(shop_id: int, data: Any, *, created_by: str, source: str, create_only: bool = False) -> Saved:
    """Store the shop's template ``data`` (validated first; nothing is written when it fails).

    A new name is stored as version 1; a known one whose content differs becomes the next
    version (the document's own ``version`` is ignored: the row counts); the same content
    changes nothing. ``create_only`` refuses a known name (``ShopTemplateExistsError``).
    The caller commits (and queues the sync that submits it to Meta)."""
    if isinstance(data, dict) and "version" not in data:
        data = {**data, "version": 1}  # optional here: the row counts versions
    validate(data, source=source)
    name, now = data["name"], utcnow()
    # one statement decides between two concurrent creates; the row is then locked for the edit
    new_id = insert_or_ignore(db.session, ShopTemplate, {
        "shop_id": shop_id, "name": name, "version": 1, "category": data["category"],
        "definition": {**data, "version": 1}, "created_by": created_by[:255], "created_at": now,
        "updated_at": now}, conflict=("shop_id", "name"))
    row = db.session.scalars(select(ShopTemplate).where(ShopTemplate.shop_id == shop_id, ShopTemplate.name == name)
                             .with_for_update().execution_options(populate_existing=True)).one()
    if new_id is not None:
        outcome = CREATED
    elif create_only:
        raise _error(ShopTemplateExistsError, source, f"the shop has a template {name!r} already; edit it")
    elif _content(row.definition) == _content(data):
        outcome = UNCHANGED
    else:
        row.version += 1
        row.definition, row.category = {**data, "version": row.version}, data["category"]
        row.created_by, row.updated_at = created_by[:255], now
        outcome = UPDATED
    if outcome != UNCHANGED:
        db.session.add(ShopTemplateVersion(template_id=row.id, shop_id=shop_id, version=row.version,
                                           definition=row.definition, created_by=created_by[:255], created_at=now))
        db.session.flush()
    return Saved(row, definition_of(row), outcome)


def versions(template: ShopTemplate) -> list[ShopTemplateVersion]:
    """Every stored version of the template, oldest first."""
    return list(db.session.scalars(select(ShopTemplateVersion).where(
        ShopTemplateVersion.shop_id == template.shop_id, ShopTemplateVersion.template_id == template.id)
        .order_by(ShopTemplateVersion.version)))
