"""WhatsApp webhook verification and parsing, against Meta's published payloads.

Fixtures live in ``fixtures/payloads/whatsapp/<field>__<variant>.json``; SOURCES.md there
says where each one comes from.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connector.events import (
    InboundMessage,
    MarketingPreferenceChanged,
    MessageError,
    MessageStatusChanged,
    MessagingLimitChanged,
    TemplateStatusChanged,
    UnhandledChange,
)
from integrations.whatsapp.errors import (
    SignatureInvalidError,
    SignatureMissingError,
    WhatsAppError,
    WhatsAppPayloadError,
)
from integrations.whatsapp.webhooks import answer_challenge, parse, phone_number_ids, sign, verify_signature

FIXTURES = Path(__file__).parent / "fixtures" / "payloads" / "whatsapp"

# Identifiers used across Meta's reference examples.
META_NUMBER_ID = "106540352242922"
META_USER_PHONE = "16505551234"
BSUID = "US.13491208655302741918"
# pywa's test data uses its own placeholders.
PYWA_NUMBER_ID = "1122334455667"
PYWA_USER_PHONE = "972987654321"


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def at(epoch_seconds: int) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)


def first_change_value(payload: dict) -> dict:
    return payload["entry"][0]["changes"][0]["value"]


# ---------------------------------------------------------------------------------------
# Every fixture → the exact events it produces
# ---------------------------------------------------------------------------------------

EXPECTED: dict[str, list[Any]] = {
    "statuses__sent": [
        MessageStatusChanged(
            phone_number_id=META_NUMBER_ID,
            wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
            status="sent",
            occurred_at=at(1750030073),
            recipient_phone=META_USER_PHONE,
        )
    ],
    "statuses__sent_with_conversation": [
        MessageStatusChanged(
            phone_number_id=META_NUMBER_ID,
            wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
            status="sent",
            occurred_at=at(1750030073),
            recipient_phone=META_USER_PHONE,
            pricing_category="marketing",
            pricing_type="regular",
        )
    ],
    "statuses__sent_with_callback_data": [
        MessageStatusChanged(
            phone_number_id=PYWA_NUMBER_ID,
            wamid="wamid.xyzxyz",
            status="sent",
            occurred_at=at(1698266945),
            recipient_phone=PYWA_USER_PHONE,
            recipient_user_id=BSUID,
            callback_data="some data",
            pricing_category="service",
        )
    ],
    "statuses__delivered": [
        MessageStatusChanged(
            phone_number_id=META_NUMBER_ID,
            wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
            status="delivered",
            occurred_at=at(1750030073),
            recipient_phone=META_USER_PHONE,
            recipient_user_id=BSUID,
            pricing_category="marketing",
            pricing_type="regular",
        )
    ],
    "statuses__delivered_bsuid_only": [
        MessageStatusChanged(
            phone_number_id=META_NUMBER_ID,
            wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
            status="delivered",
            occurred_at=at(1750030073),
            recipient_phone=None,
            recipient_user_id=BSUID,
            pricing_category="marketing",
            pricing_type="regular",
        )
    ],
    "statuses__read": [
        MessageStatusChanged(
            phone_number_id=PYWA_NUMBER_ID,
            wamid="wamid.xyzxyz",
            status="read",
            occurred_at=at(1689380458),
            recipient_phone=PYWA_USER_PHONE,
            recipient_user_id=BSUID,
            pricing_category="service",
        )
    ],
    "statuses__failed": [
        MessageStatusChanged(
            phone_number_id=META_NUMBER_ID,
            wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA",
            status="failed",
            occurred_at=at(1751142888),
            recipient_phone=META_USER_PHONE,
            errors=(
                MessageError(
                    code=131049,
                    title="This message was not delivered to maintain healthy ecosystem engagement.",
                    message="This message was not delivered to maintain healthy ecosystem engagement.",
                    details="In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
                ),
            ),
        )
    ],
    "messages__text": [
        InboundMessage(
            phone_number_id=META_NUMBER_ID,
            wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
            kind="text",
            occurred_at=at(1749416383),
            from_phone=META_USER_PHONE,
            profile_name="Sheena Nelson",
            text="Does it come in another color?",
        )
    ],
    "messages__text_username_only": [
        InboundMessage(
            phone_number_id=META_NUMBER_ID,
            wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
            kind="text",
            occurred_at=at(1749416383),
            from_phone=None,
            user_id=BSUID,
            profile_name="Sheena Nelson",
            text="Does it come in another color?",
        )
    ],
    "messages__text_referred_product": [
        InboundMessage(
            phone_number_id=META_NUMBER_ID,
            wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTA2NTUwRkNEMDdFQjJCRUU0NQA=",
            kind="text",
            occurred_at=at(1750016800),
            from_phone=META_USER_PHONE,
            profile_name="Sheena Nelson",
            text="Is this still available?",
            context_wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA",
        )
    ],
    "messages__reply_with_context": [
        InboundMessage(
            phone_number_id=PYWA_NUMBER_ID,
            wamid="wamid.xyzxyz",
            kind="text",
            occurred_at=at(1697044746),
            from_phone=PYWA_USER_PHONE,
            user_id=BSUID,
            profile_name="Test Name",
            text="replied text",
            context_wamid="wamid.xyzxyz==",
        )
    ],
    "messages__button": [
        InboundMessage(
            phone_number_id=META_NUMBER_ID,
            wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
            kind="button",
            occurred_at=at(1750091045),
            from_phone=META_USER_PHONE,
            profile_name="Sheena Nelson",
            reply_id="Unsubscribe",
            reply_title="Unsubscribe",
            context_wamid="wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=",
        )
    ],
    "messages__button_with_user_id": [
        InboundMessage(
            phone_number_id=PYWA_NUMBER_ID,
            wamid="wamid.xsidjx",
            kind="button",
            occurred_at=at(1698269027),
            from_phone=PYWA_USER_PHONE,
            user_id=BSUID,
            profile_name="Test Name",
            reply_id="callback_data",
            reply_title="title",
        )
    ],
    "messages__interactive_button_reply": [
        InboundMessage(
            phone_number_id=META_NUMBER_ID,
            wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTZBQzg0MzQ4QjRCM0NGNkVGOAA=",
            kind="interactive",
            occurred_at=at(1750025136),
            from_phone=META_USER_PHONE,
            profile_name="Sheena Nelson",
            reply_id="cancel-button",
            reply_title="Cancel",
            context_wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA",
        )
    ],
    "messages__interactive_list_reply": [
        InboundMessage(
            phone_number_id=META_NUMBER_ID,
            wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
            kind="interactive",
            occurred_at=at(1749854575),
            from_phone=META_USER_PHONE,
            profile_name="Sheena Nelson",
            reply_id="priority_express",
            reply_title="Priority Mail Express",
            context_wamid="wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=",
        )
    ],
    "messages__image": [
        InboundMessage(
            phone_number_id=META_NUMBER_ID,
            wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
            kind="image",
            occurred_at=at(1744344496),
            from_phone=META_USER_PHONE,
            profile_name="Sheena Nelson",
        )
    ],
    "user_preferences__stop": [
        MarketingPreferenceChanged(
            phone_number_id=META_NUMBER_ID,
            value="stop",
            occurred_at=at(1731705721),
            phone=META_USER_PHONE,
        )
    ],
    "user_preferences__resume": [
        MarketingPreferenceChanged(
            phone_number_id=META_NUMBER_ID,
            value="resume",
            occurred_at=at(1731705721),
            phone=META_USER_PHONE,
        )
    ],
    "messages__errors": [
        UnhandledChange(field="messages", details={"reason": "value_errors", "codes": [130429]})
    ],
    "message_template_status_update__approved": [
        TemplateStatusChanged(waba_id="102290129340398", status="APPROVED", template_id="1689556908129832",
                              name="order_confirmation", language="en_US", reason=None)
    ],
    # issue 14.6: the portfolio's messaging limit, named by the WABA (entry id)
    "phone_number_quality_update__throughput_upgrade": [
        MessagingLimitChanged(waba_id="102290129340398", source="phone_number_quality_update", known=False,
                              occurred_at=at(1748454394), throughput_event="THROUGHPUT_UPGRADE")
    ],
    "phone_number_quality_update__portfolio_limit": [
        MessagingLimitChanged(waba_id="102290129340398", source="phone_number_quality_update", known=True,
                              limit=2000, occurred_at=at(1739321024), throughput_event="THROUGHPUT_UPGRADE")
    ],
    "business_capability_update__portfolio_limit": [
        MessagingLimitChanged(waba_id="524126980791429", source="business_capability_update", known=True,
                              limit=2000, occurred_at=at(1739321024))
    ],
    "business_capability_update__unlimited": [
        MessagingLimitChanged(waba_id="102290129340398", source="business_capability_update", known=True,
                              limit=None, occurred_at=at(1739321024))
    ],
}


def test_every_fixture_has_expected_events_and_a_source() -> None:
    names = {path.stem for path in FIXTURES.glob("*.json")}
    assert names == set(EXPECTED)
    sources = (FIXTURES / "SOURCES.md").read_text(encoding="utf-8")
    for name in names:
        assert f"`{name}.json`" in sources, f"{name}.json is not listed in SOURCES.md"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_produces_exactly_the_expected_events(name: str) -> None:
    assert parse(load(name)) == EXPECTED[name]


# A few field by field, so that a failure says which field went wrong.


def test_text_message_fields() -> None:
    [event] = parse(load("messages__text"))
    assert isinstance(event, InboundMessage)
    assert event.phone_number_id == META_NUMBER_ID
    assert event.wamid.startswith("wamid.")
    assert event.kind == "text"
    assert event.text == "Does it come in another color?"
    assert event.from_phone == "16505551234"  # digits as Meta sends them, no "+"
    assert event.user_id is None
    assert event.profile_name == "Sheena Nelson"
    assert event.reply_id is None and event.reply_title is None
    assert event.context_wamid is None
    assert event.occurred_at == datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC)
    assert event.occurred_at.tzinfo is UTC


def test_username_only_message_is_identified_by_bsuid() -> None:
    payload = load("messages__text_username_only")
    message = first_change_value(payload)["messages"][0]
    assert "from" not in message and "wa_id" not in first_change_value(payload)["contacts"][0]

    [event] = parse(payload)
    assert isinstance(event, InboundMessage)
    assert event.from_phone is None
    assert event.user_id == BSUID
    assert event.profile_name == "Sheena Nelson"  # matched through contacts[].user_id
    assert event.text == "Does it come in another color?"


def test_failed_status_fields() -> None:
    [event] = parse(load("statuses__failed"))
    assert isinstance(event, MessageStatusChanged)
    assert event.status == "failed"
    assert event.recipient_phone == META_USER_PHONE
    assert event.recipient_user_id is None  # failed statuses carry no contacts block
    assert [error.code for error in event.errors] == [131049]
    assert event.errors[0].details.startswith("In order to maintain a healthy ecosystem engagement")
    assert event.pricing_category is None and event.pricing_type is None
    assert event.occurred_at == datetime(2025, 6, 28, 20, 34, 48, tzinfo=UTC)


def test_button_reply_fields() -> None:
    [event] = parse(load("messages__button"))
    assert isinstance(event, InboundMessage)
    assert (event.kind, event.reply_id, event.reply_title) == ("button", "Unsubscribe", "Unsubscribe")
    assert event.text is None
    assert event.context_wamid == "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="


def test_status_bsuid_comes_from_contacts_when_not_on_the_status() -> None:
    payload = load("statuses__read")
    assert "recipient_user_id" not in first_change_value(payload)["statuses"][0]
    [event] = parse(payload)
    assert event.recipient_user_id == BSUID


def test_user_preference_keeps_the_bsuid() -> None:
    # Field added by the BSUID rollout (user_preferences section of the BSUID page).
    payload = load("user_preferences__stop")
    first_change_value(payload)["user_preferences"][0]["user_id"] = BSUID
    [event] = parse(payload)
    assert isinstance(event, MarketingPreferenceChanged)
    assert (event.phone, event.user_id, event.value) == (META_USER_PHONE, BSUID, "stop")
    assert event.category == "marketing_messages"


def test_user_preference_without_phone_uses_the_bsuid() -> None:
    payload = load("user_preferences__stop")
    item = first_change_value(payload)["user_preferences"][0]
    del item["wa_id"]
    item["user_id"] = BSUID
    [event] = parse(payload)
    assert (event.phone, event.user_id) == (None, BSUID)


def test_string_timestamp_on_user_preferences_is_accepted() -> None:
    payload = load("user_preferences__resume")
    first_change_value(payload)["user_preferences"][0]["timestamp"] = "1731705721"
    [event] = parse(payload)
    assert event.occurred_at == at(1731705721)


def test_group_status_reports_the_participant_number() -> None:
    # Groups: recipient_id is the group id, the member's number is recipient_participant_id.
    payload = load("statuses__sent")
    status = first_change_value(payload)["statuses"][0]
    status.update(recipient_id="Y2FwaV9ncm91cDoxOTUwNTU1MDA3OToxMjAzNjMzOTQzMjAdOTY0MTUZD")
    status.update(recipient_type="group", recipient_participant_id=META_USER_PHONE)
    [event] = parse(payload)
    assert event.recipient_phone == META_USER_PHONE


def test_several_entries_and_changes_are_all_parsed() -> None:
    payload = load("messages__text")
    payload["entry"].append(load("statuses__failed")["entry"][0])
    payload["entry"][0]["changes"].append(load("user_preferences__stop")["entry"][0]["changes"][0])
    kinds = [type(event) for event in parse(payload)]
    assert kinds == [InboundMessage, MarketingPreferenceChanged, MessageStatusChanged]


# ---------------------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------------------


def test_phone_number_ids_of_a_fixture() -> None:
    assert phone_number_ids(load("messages__text")) == [META_NUMBER_ID]


def test_phone_number_ids_are_distinct_and_in_order() -> None:
    payload = load("statuses__read")
    payload["entry"].append(load("messages__text")["entry"][0])
    payload["entry"].append(load("statuses__failed")["entry"][0])
    assert phone_number_ids(payload) == [PYWA_NUMBER_ID, META_NUMBER_ID]


def test_phone_number_ids_skips_changes_without_metadata() -> None:
    assert phone_number_ids(load("message_template_status_update__approved")) == []
    payload = load("messages__text")
    del first_change_value(payload)["metadata"]
    assert phone_number_ids(payload) == []


# ---------------------------------------------------------------------------------------
# Signature (X-Hub-Signature-256)
# ---------------------------------------------------------------------------------------

APP_SECRET = "test-app-secret"
BODY = b'{"object":"whatsapp_business_account","entry":[]}'
# Computed independently: printf '%s' "$BODY" | openssl dgst -sha256 -hmac test-app-secret
GOOD_SIGNATURE = "sha256=c84a394cc475525991e78ff16e430b02e47f953877d2af0ade26956ce6f384dc"


def test_sign_matches_the_known_vector() -> None:
    assert sign(BODY, APP_SECRET) == GOOD_SIGNATURE


def test_known_good_signature_verifies() -> None:
    assert verify_signature(BODY, GOOD_SIGNATURE, APP_SECRET) is None


def test_signature_of_a_real_fixture_round_trips() -> None:
    raw = (FIXTURES / "messages__text.json").read_bytes()
    verify_signature(raw, sign(raw, APP_SECRET), APP_SECRET)


def test_uppercase_hex_and_surrounding_whitespace_are_accepted() -> None:
    header = "sha256=" + GOOD_SIGNATURE.removeprefix("sha256=").upper()
    verify_signature(BODY, f"  {header} ", APP_SECRET)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_signature(header: str | None) -> None:
    with pytest.raises(SignatureMissingError):
        verify_signature(BODY, header, APP_SECRET)


@pytest.mark.parametrize(
    "header",
    [
        GOOD_SIGNATURE.removeprefix("sha256="),  # no prefix
        "sha1=" + GOOD_SIGNATURE.removeprefix("sha256="),  # the old X-Hub-Signature scheme
        GOOD_SIGNATURE[:-1],  # 63 hex digits
        GOOD_SIGNATURE + "0",  # 65 hex digits
        GOOD_SIGNATURE[:-1] + "g",  # not hex
        "sha256=",
        "SHA256=" + GOOD_SIGNATURE.removeprefix("sha256="),
        GOOD_SIGNATURE + ",sha256=" + "0" * 64,
    ],
)
def test_malformed_signature_counts_as_missing(header: str) -> None:
    with pytest.raises(SignatureMissingError):
        verify_signature(BODY, header, APP_SECRET)


def test_wrong_secret_is_rejected() -> None:
    with pytest.raises(SignatureInvalidError):
        verify_signature(BODY, sign(BODY, "another-secret"), APP_SECRET)


def test_tampered_body_is_rejected() -> None:
    with pytest.raises(SignatureInvalidError):
        verify_signature(BODY.replace(b"[]", b"[{}]"), GOOD_SIGNATURE, APP_SECRET)


def test_reserialised_json_does_not_verify() -> None:
    # The signature covers the raw bytes; parsing and dumping again changes them.
    raw = (FIXTURES / "messages__text.json").read_bytes()
    reserialised = json.dumps(json.loads(raw)).encode()
    with pytest.raises(SignatureInvalidError):
        verify_signature(reserialised, sign(raw, APP_SECRET), APP_SECRET)


def test_signature_errors_are_whatsapp_errors() -> None:
    assert issubclass(SignatureMissingError, WhatsAppError)
    assert issubclass(SignatureInvalidError, WhatsAppError)


def test_empty_app_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        verify_signature(BODY, GOOD_SIGNATURE, "")
    with pytest.raises(ValueError):
        sign(BODY, "")


# ---------------------------------------------------------------------------------------
# Verification handshake (GET)
# ---------------------------------------------------------------------------------------

VERIFY_TOKEN = "meatyhamhock"


def handshake(**overrides: str) -> dict[str, str]:
    args = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    args.update(overrides)
    return args


def test_challenge_is_echoed_when_the_token_matches() -> None:
    assert answer_challenge(handshake(), VERIFY_TOKEN) == "1158201444"


def test_wrong_token_is_refused() -> None:
    assert answer_challenge(handshake(**{"hub.verify_token": "not-it"}), VERIFY_TOKEN) is None


def test_wrong_mode_is_refused() -> None:
    assert answer_challenge(handshake(**{"hub.mode": "unsubscribe"}), VERIFY_TOKEN) is None


@pytest.mark.parametrize("missing", ["hub.mode", "hub.verify_token", "hub.challenge"])
def test_incomplete_handshake_is_refused(missing: str) -> None:
    args = handshake()
    del args[missing]
    assert answer_challenge(args, VERIFY_TOKEN) is None


def test_empty_configured_token_never_matches() -> None:
    assert answer_challenge(handshake(**{"hub.verify_token": ""}), "") is None


# ---------------------------------------------------------------------------------------
# Envelope errors: the only case where parse() raises
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "whatsapp_business_account",
        {},
        {"object": "page", "entry": []},
        {"object": "whatsapp_business_account"},
        {"object": "whatsapp_business_account", "entry": {}},
        {"object": "whatsapp_business_account", "entry": None},
    ],
)
def test_not_an_envelope_raises_payload_error(payload: Any) -> None:
    with pytest.raises(WhatsAppPayloadError):
        parse(payload)
    with pytest.raises(WhatsAppPayloadError):
        phone_number_ids(payload)


def test_empty_entry_list_gives_no_events() -> None:
    assert parse({"object": "whatsapp_business_account", "entry": []}) == []


# ---------------------------------------------------------------------------------------
# Tolerance: a dict of the right envelope shape never raises
# ---------------------------------------------------------------------------------------


def test_unknown_field_is_unhandled() -> None:
    payload = load("messages__text")
    payload["entry"][0]["changes"][0]["field"] = "account_alerts"
    assert parse(payload) == [UnhandledChange(field="account_alerts", details={"reason": "field_not_handled"})]


def test_missing_conversation_is_fine() -> None:
    payload = load("statuses__sent_with_conversation")
    del first_change_value(payload)["statuses"][0]["conversation"]
    [event] = parse(payload)
    assert event.status == "sent" and event.pricing_category == "marketing"


def test_status_without_pricing() -> None:
    payload = load("statuses__delivered")
    del first_change_value(payload)["statuses"][0]["pricing"]
    [event] = parse(payload)
    assert event.status == "delivered"
    assert event.pricing_category is None and event.pricing_type is None


def test_extra_unknown_keys_are_ignored() -> None:
    payload = load("messages__interactive_list_reply")
    payload["new_top_level_key"] = 1
    payload["entry"][0]["time"] = 1751247548
    payload["entry"][0]["changes"][0]["new_change_key"] = {"a": 1}
    value = first_change_value(payload)
    value["new_value_key"] = [1, 2]
    value["metadata"]["new_metadata_key"] = "x"
    value["contacts"][0]["identity_key_hash"] = "DF2lS5v2W6x="
    value["messages"][0]["new_message_key"] = {"nested": True}
    value["messages"][0]["interactive"]["list_reply"]["new_reply_key"] = None
    assert parse(payload) == EXPECTED["messages__interactive_list_reply"]


def test_missing_contacts_only_loses_the_profile_name() -> None:
    payload = load("messages__text")
    del first_change_value(payload)["contacts"]
    [event] = parse(payload)
    assert event.profile_name is None
    assert event.from_phone == META_USER_PHONE and event.text == "Does it come in another color?"


def test_contacts_of_another_user_are_not_borrowed() -> None:
    payload = load("messages__text")
    first_change_value(payload)["contacts"] = [{"profile": {"name": "Someone Else"}, "wa_id": "15550000000"}]
    [event] = parse(payload)
    assert event.profile_name is None


@pytest.mark.parametrize("value", [None, "messages", 42, [], [{"statuses": []}], True])
def test_value_that_is_not_a_dict(value: Any) -> None:
    payload = load("statuses__sent")
    payload["entry"][0]["changes"][0]["value"] = value
    assert parse(payload) == [UnhandledChange(field="messages", details={"reason": "value_not_object"})]


def test_missing_phone_number_id_is_unhandled() -> None:
    payload = load("statuses__sent")
    first_change_value(payload)["metadata"] = {"display_phone_number": "15550783881"}
    assert parse(payload) == [UnhandledChange(field="messages", details={"reason": "phone_number_id_missing"})]


def test_missing_field_is_unhandled() -> None:
    payload = load("statuses__sent")
    del payload["entry"][0]["changes"][0]["field"]
    assert parse(payload) == [UnhandledChange(field="", details={"reason": "field_missing"})]


@pytest.mark.parametrize("entry", [None, "x", 1, [], {"id": "1"}, {"changes": None}, {"changes": {}}])
def test_odd_entries_are_skipped(entry: Any) -> None:
    payload = load("messages__text")
    payload["entry"].insert(0, entry)
    assert parse(payload) == EXPECTED["messages__text"]


def test_change_that_is_not_a_dict_is_unhandled() -> None:
    payload = load("messages__text")
    payload["entry"][0]["changes"].insert(0, "not a change")
    events = parse(payload)
    assert events[0] == UnhandledChange(field="", details={"reason": "field_missing"})
    assert events[1:] == EXPECTED["messages__text"]


@pytest.mark.parametrize(
    "mutation",
    [
        lambda status: status.pop("id"),
        lambda status: status.pop("status"),
        lambda status: status.pop("timestamp"),
        lambda status: status.update(timestamp="yesterday"),
        lambda status: status.update(timestamp="²"),
        lambda status: status.update(timestamp=10**30),
        lambda status: status.update(timestamp=True),
        lambda status: status.update(id=12345),
    ],
)
def test_unusable_status_becomes_unhandled(mutation: Any) -> None:
    payload = load("statuses__sent")
    mutation(first_change_value(payload)["statuses"][0])
    assert parse(payload) == [
        UnhandledChange(field="messages", details={"reason": "malformed_item", "key": "statuses", "index": 0})
    ]


def test_unusable_item_does_not_hide_its_neighbours() -> None:
    payload = load("statuses__sent")
    statuses = first_change_value(payload)["statuses"]
    statuses.insert(0, "not a status")
    statuses.append({"id": "wamid.only-an-id"})
    events = parse(payload)
    assert events[1:2] == EXPECTED["statuses__sent"]
    assert [event.details.get("index") for event in events if isinstance(event, UnhandledChange)] == [0, 2]


def test_message_without_any_sender_id_is_unhandled() -> None:
    payload = load("messages__text_username_only")
    value = first_change_value(payload)
    del value["messages"][0]["from_user_id"]
    del value["contacts"]
    [event] = parse(payload)
    assert event == UnhandledChange(field="messages",
                                    details={"reason": "malformed_item", "key": "messages", "index": 0})


def test_malformed_status_errors_are_dropped_but_status_kept() -> None:
    payload = load("statuses__failed")
    status = first_change_value(payload)["statuses"][0]
    status["errors"] = [None, {"title": "no code"}, {"code": "131050"}, {"code": 131050, "error_data": "x"}, "x"]
    [event] = parse(payload)
    assert event.status == "failed"
    assert event.errors == (MessageError(code=131050),)


def test_odd_shapes_inside_a_message_are_tolerated() -> None:
    payload = load("messages__interactive_button_reply")
    message = first_change_value(payload)["messages"][0]
    message["interactive"] = {"type": ["button_reply"], "button_reply": "Cancel"}
    message["context"] = "wamid.x"
    [event] = parse(payload)
    assert (event.kind, event.reply_id, event.reply_title, event.context_wamid) == ("interactive", None, None, None)


def test_interactive_reply_we_do_not_read_keeps_its_kind() -> None:
    # e.g. a WhatsApp Flow answer: type nfm_reply, no {id, title}
    payload = load("messages__interactive_button_reply")
    first_change_value(payload)["messages"][0]["interactive"] = {
        "type": "nfm_reply",
        "nfm_reply": {"response_json": "{}", "body": "Sent", "name": "flow"},
    }
    [event] = parse(payload)
    assert (event.kind, event.reply_id, event.reply_title, event.text) == ("interactive", None, None, None)


def test_unhashable_recipient_type_is_tolerated() -> None:
    payload = load("statuses__sent")
    first_change_value(payload)["statuses"][0]["recipient_type"] = {"group": True}
    assert parse(payload) == EXPECTED["statuses__sent"]


def test_value_errors_come_with_statuses_of_the_same_change() -> None:
    # entry.changes.value.errors reports errors not tied to one message.
    payload = load("statuses__sent")
    first_change_value(payload)["errors"] = first_change_value(load("messages__errors"))["errors"]
    assert parse(payload) == EXPECTED["statuses__sent"] + EXPECTED["messages__errors"]


def test_known_field_with_nothing_we_read_is_reported() -> None:
    payload = load("statuses__sent")
    del first_change_value(payload)["statuses"]
    assert parse(payload) == [
        UnhandledChange(
            field="messages",
            details={"reason": "nothing_to_parse", "value_keys": ["messaging_product", "metadata"]},
        )
    ]


def test_unhandled_details_carry_no_personal_data() -> None:
    payload = load("messages__text")
    first_change_value(payload)["messages"][0]["timestamp"] = "soon"
    [event] = parse(payload)
    rendered = json.dumps(event.details)
    assert META_USER_PHONE not in rendered and "Sheena" not in rendered and "color" not in rendered


_JUNK: list[Any] = [None, True, 0, -1, 1.5, "", "x", [], [None], {}, {"x": None}]


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    children: list[tuple] = []
    if isinstance(node, dict):
        items: Any = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return children
    for key, child in items:
        children.append(path + (key,))
        children.extend(_paths(child, path + (key,)))
    return children


def _replaced(payload: dict, path: tuple, junk: Any) -> dict:
    mutated = copy.deepcopy(payload)
    node = mutated
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = copy.deepcopy(junk)
    return mutated


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_any_node_replaced_by_junk_never_raises(name: str) -> None:
    payload = load(name)
    # Everything below entry[...] is the vendor's to get wrong; the envelope itself is ours.
    for path in _paths(payload["entry"], ("entry",)):
        for junk in _JUNK:
            events = parse(_replaced(payload, path, junk))
            assert isinstance(events, list)
            phone_number_ids(_replaced(payload, path, junk))
