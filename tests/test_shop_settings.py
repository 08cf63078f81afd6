"""The typed settings model (connector/shop_settings.py): bounds, defaults, reading stored
settings, merge-patch semantics. No database: shops here are never added to a session."""

from __future__ import annotations

import logging

import pytest

from connector import shop_settings
from connector.messaging.governor import DEFAULT_POLICY_SETTINGS, Policy
from connector.models import Shop
from connector.shop_settings import SettingsInvalidError, apply_patch, defaults, effective, merge_patch


def shop(settings: dict | None = None) -> Shop:
    return Shop(id=7, platform="shopify", domain="demo.myshopify.com", settings=settings or {})


def errors_of(patch: dict, stored: dict | None = None) -> dict:
    with pytest.raises(SettingsInvalidError) as raised:
        apply_patch(stored or {}, patch)
    return raised.value.errors


def cart(**values) -> dict:
    return {"automations": {"abandoned_cart": values}}


# -- defaults ------------------------------------------------------------------------------------

def test_defaults_are_todays():
    settings = defaults()
    assert settings["automations"]["abandoned_cart"] == {
        "enabled": True, "delays_seconds": [3600, 86400, 259200], "discount_code": None, "discount_value": None,
        "discount_source": "fixed", "discount_percent": 10, "discount_valid_days": 7,
        "quiet_after_order_seconds": 86400}
    assert settings["automations"]["order_confirmation"] == {
        "enabled": True, "trigger": "paid", "invoice_link_days": 30, "invoice_prefix": ""}
    assert settings["automations"]["cod_confirmation"] == {"enabled": True, "reminder_delay_seconds": 14400}
    assert settings["automations"]["review_request"] == {"enabled": False, "delay_seconds": 432000,
                                                         "review_url": None}
    assert settings["automations"]["back_in_stock"] == {
        "enabled": True, "batch_multiple": 1.0, "untracked_batch_size": 50, "batch_interval_seconds": 1800,
        "subscription_days": 30}
    assert settings["automations"]["post_purchase"] == {"enabled": False, "trigger": "delivered",
                                                        "delay_seconds": 86400, "rules": []}
    assert settings["automations"]["winback"] == {"enabled": False, "days": 90, "url": None}
    assert settings["automations"]["attribution"] == {"window_seconds": 432000}
    assert settings["governor"]["quiet_hours"] == {"enabled": True, "start": "21:00", "end": "08:00",
                                                   "purposes": ["marketing"]}
    assert settings["governor"]["frequency_caps"]["marketing"] == {"max_messages": 2, "per_hours": 24}
    assert settings["retention_days"] == 180 and settings["redact_after_uninstall_days"] is None
    assert settings["auto_reply"] == {"enabled": False, "hours": None, "hours_text": ""}
    assert settings["link_domains"] == [] and settings["invoice"]["address_lines"] == []
    assert settings["woocommerce"] == {"checkout_link": None, "plugin_endpoint": None}


def test_the_governor_takes_its_defaults_from_the_schema():
    assert DEFAULT_POLICY_SETTINGS == defaults()["governor"]
    policy = Policy.from_settings(defaults()["governor"], shop_time_zone="UTC", messaging_limit=None)
    assert set(policy.frequency_caps) == {"marketing"}


def test_defaults_are_filled_in_around_what_a_shop_stored():
    settings = effective(shop({"automations": {"abandoned_cart": {"discount_code": "SPRING"}},
                               "retention_days": 30}))
    assert settings["automations"]["abandoned_cart"]["discount_code"] == "SPRING"
    assert settings["automations"]["abandoned_cart"]["delays_seconds"] == [3600, 86400, 259200]
    assert settings["retention_days"] == 30
    expected = defaults()
    expected["automations"]["abandoned_cart"]["discount_code"] = "SPRING"
    expected["retention_days"] = 30
    assert settings == expected
    assert effective(shop()) == defaults()


def test_every_setting_has_a_meaning():
    def walk(described, path=""):
        for name, value in described.items():
            if "description" in value:
                assert value["description"], f"{path}{name} has no description"
            else:
                walk(value, f"{path}{name}.")

    walk(shop_settings.describe())


# -- bounds: what a merchant may set --------------------------------------------------------------

@pytest.mark.parametrize("delays", [[900], [900, 1800], [1800, 86400, 259200], [900, 1000, 2000, 3000, 2592000]])
def test_cart_steps_a_merchant_may_set(delays):
    assert apply_patch({}, cart(delays_seconds=delays)).settings["automations"]["abandoned_cart"][
        "delays_seconds"] == delays


@pytest.mark.parametrize(("delays", "message"), [
    ([899, 3600], "at least 15 minutes"),  # the first reminder no sooner than 15 minutes
    ([900, 2592001], "later than 30 days"),  # no step later than 30 days
    ([3600, 3600], "strictly increasing"),
    ([7200, 3600], "strictly increasing"),
    ([], "1 to 5 steps"),
    ([900, 1000, 2000, 3000, 4000, 5000], "1 to 5 steps"),
])
def test_cart_steps_a_merchant_may_not_set(delays, message):
    errors = errors_of(cart(delays_seconds=delays))
    (text,) = errors["automations"]["abandoned_cart"]["delays_seconds"]
    assert message in text


def test_cart_steps_must_be_whole_seconds():
    errors = errors_of(cart(delays_seconds=["3600", 7200]))
    assert errors["automations"]["abandoned_cart"]["delays_seconds"] == {0: ["Not a valid integer."]}


@pytest.mark.parametrize(("percent", "is_valid"), [(1, True), (15, True), (12.5, True), (90, True), (0, False),
                                                   (91, False), (-5, False), ("10", False), (True, False)])
def test_discount_percent_is_1_to_90(percent, is_valid):
    patch = cart(discount_percent=percent)
    if is_valid:
        assert apply_patch({}, patch).settings["automations"]["abandoned_cart"]["discount_percent"] == percent
    else:
        assert "discount_percent" in errors_of(patch)["automations"]["abandoned_cart"]


@pytest.mark.parametrize(("clock", "is_valid"), [("21:00", True), ("00:00", True), ("23:59", True), ("07:30", True),
                                                 ("24:00", False), ("9:00", False), ("21:60", False), ("2100", False),
                                                 ("", False), (2100, False)])
def test_quiet_hours_are_hh_mm(clock, is_valid):
    patch = {"governor": {"quiet_hours": {"start": clock}}}
    if is_valid:
        assert apply_patch({}, patch).settings["governor"]["quiet_hours"]["start"] == clock
    else:
        assert list(errors_of(patch)["governor"]["quiet_hours"]) == ["start"]


@pytest.mark.parametrize(("patch", "path"), [
    ({"automations": {"order_confirmation": {"trigger": "shipped"}}}, ("automations", "order_confirmation", "trigger")),
    ({"automations": {"order_confirmation": {"enabled": "yes"}}}, ("automations", "order_confirmation", "enabled")),
    ({"automations": {"order_confirmation": {"invoice_link_days": 0}}},
     ("automations", "order_confirmation", "invoice_link_days")),
    ({"automations": {"order_confirmation": {"invoice_prefix": "X" * 17}}},
     ("automations", "order_confirmation", "invoice_prefix")),
    ({"automations": {"cod_confirmation": {"reminder_delay_seconds": 60}}},
     ("automations", "cod_confirmation", "reminder_delay_seconds")),
    ({"automations": {"abandoned_cart": {"discount_source": "random"}}},
     ("automations", "abandoned_cart", "discount_source")),
    ({"automations": {"abandoned_cart": {"discount_valid_days": 0}}},
     ("automations", "abandoned_cart", "discount_valid_days")),
    ({"automations": {"review_request": {"delay_seconds": 600}}}, ("automations", "review_request", "delay_seconds")),
    ({"automations": {"review_request": {"delay_seconds": 31 * 86400}}},
     ("automations", "review_request", "delay_seconds")),
    ({"automations": {"review_request": {"review_url": "javascript:alert(1)"}}},
     ("automations", "review_request", "review_url")),
    ({"automations": {"post_purchase": {"trigger": "paid"}}}, ("automations", "post_purchase", "trigger")),
    ({"automations": {"post_purchase": {"delay_seconds": 31 * 86400}}},
     ("automations", "post_purchase", "delay_seconds")),
    ({"automations": {"post_purchase": {"rules": [{"note": "Guide"}]}}},
     ("automations", "post_purchase", "rules", 0, "url")),
    ({"automations": {"post_purchase": {"rules": [{"url": "https://demo.myshopify.com/g", "note": ""}]}}},
     ("automations", "post_purchase", "rules", 0, "note")),
    ({"automations": {"post_purchase": {"rules": [{"url": "ftp://demo.myshopify.com/g", "note": "Guide"}]}}},
     ("automations", "post_purchase", "rules", 0, "url")),
    ({"automations": {"post_purchase": {"rules": [{"url": "https://demo.myshopify.com/g", "note": "x" * 201}]}}},
     ("automations", "post_purchase", "rules", 0, "note")),
    ({"automations": {"post_purchase": {"rules": [{"url": "https://demo.myshopify.com/g", "note": "G"}] * 21}}},
     ("automations", "post_purchase", "rules")),
    ({"automations": {"winback": {"days": 7}}}, ("automations", "winback", "days")),
    ({"automations": {"winback": {"days": 731}}}, ("automations", "winback", "days")),
    ({"automations": {"winback": {"url": "javascript:alert(1)"}}}, ("automations", "winback", "url")),
    ({"automations": {"back_in_stock": {"batch_interval_seconds": 10}}},
     ("automations", "back_in_stock", "batch_interval_seconds")),
    ({"automations": {"attribution": {"window_seconds": 60}}}, ("automations", "attribution", "window_seconds")),
    ({"automations": {"repurchase_reminder": {"intervals": [{"product_id": "1", "days": 0}]}}},
     ("automations", "repurchase_reminder", "intervals")),
    ({"automations": {"repurchase_reminder": {"intervals": [{"product_id": "1", "days": 30},
                                                            {"product_id": "1", "days": 60}]}}},
     ("automations", "repurchase_reminder", "intervals")),
    ({"automations": {"repurchase_reminder": {"intervals": [{"days": 30}]}}},
     ("automations", "repurchase_reminder", "intervals")),
    ({"automations": {"repurchase_reminder": {"min_repeats": 2}}},
     ("automations", "repurchase_reminder", "min_repeats")),
    ({"automations": {"coupon_reminder": {"after_days": 0}}}, ("automations", "coupon_reminder", "after_days")),
    ({"automations": {"coupon_reminder": {"min_hours_left": 200}}},
     ("automations", "coupon_reminder", "min_hours_left")),
    ({"automations": {"referral": {"friend_percent": 95}}}, ("automations", "referral", "friend_percent")),
    ({"automations": {"referral": {"delay_seconds": 60}}}, ("automations", "referral", "delay_seconds")),
    ({"automations": {"referral": {"reward_percent": -1}}}, ("automations", "referral", "reward_percent")),
    ({"governor": {"quiet_hours": {"purposes": ["service"]}}}, ("governor", "quiet_hours", "purposes")),
    ({"governor": {"frequency_caps": {"marketing": {"max_messages": 0}}}},
     ("governor", "frequency_caps", "marketing", "max_messages")),
    ({"governor": {"frequency_caps": {"weekly": {"max_messages": 1}}}}, ("governor", "frequency_caps", "weekly")),
    ({"governor": {"pair_interval_seconds": 1}}, ("governor", "pair_interval_seconds")),
    ({"auto_reply": {"hours": {"monday": "09:00-17:00"}}}, ("auto_reply", "hours", "monday")),
    ({"auto_reply": {"hours": {"mon": "17:00-09:00"}}}, ("auto_reply", "hours", "mon")),
    ({"auto_reply": {"hours": {"mon": "9-5"}}}, ("auto_reply", "hours", "mon")),
    ({"invoice": {"email": "not-an-address"}}, ("invoice", "email")),
    ({"invoice": {"address_lines": ["a"] * 7}}, ("invoice", "address_lines")),
    ({"link_domains": ["not a host"]}, ("link_domains",)),
    ({"retention_days": 3}, ("retention_days",)),
    ({"retention_days": 4000}, ("retention_days",)),
    ({"redact_after_uninstall_days": 0}, ("redact_after_uninstall_days",)),
    ({"woocommerce": {"checkout_link": "sometimes"}}, ("woocommerce", "checkout_link")),
])
def test_each_rule_refuses_its_bad_value(patch, path):
    errors = errors_of(patch)
    for part in path:
        errors = errors[part]
    assert errors


@pytest.mark.parametrize("patch", [
    {"automations": {"order_confirmation": {"trigger": "placed", "invoice_link_days": 365, "invoice_prefix": "INV-"}}},
    {"automations": {"cod_confirmation": {"reminder_delay_seconds": 0}}},  # no reminder
    {"automations": {"cod_confirmation": {"reminder_delay_seconds": 900}}},
    {"automations": {"review_request": {"enabled": True, "delay_seconds": 3600,
                                        "review_url": "https://demo.myshopify.com/reviews"}}},
    {"automations": {"back_in_stock": {"batch_interval_seconds": 300, "batch_multiple": 2.5}}},
    {"automations": {"repurchase_reminder": {"enabled": True, "intervals": [{"product_id": "632910392", "days": 30}],
                                             "learn": False, "min_repeats": 10, "late_days": 30}}},
    {"automations": {"coupon_reminder": {"enabled": True, "after_days": 5, "min_hours_left": 24}}},
    {"automations": {"referral": {"enabled": True, "delay_seconds": 3600, "friend_percent": 15, "reward_percent": 0,
                                  "code_valid_days": 365, "max_rewards": 3}}},  # 0: no reward
    {"automations": {"post_purchase": {"enabled": True, "trigger": "shipped", "delay_seconds": 0, "rules": [
        {"product_ids": ["11", "12"], "url": "https://demo.myshopify.com/pages/guide", "note": "How to brew"},
        {"product_ids": [], "url": "https://demo.myshopify.com/pages/unboxing", "note": "Unboxing video"}]}}},
    {"automations": {"winback": {"enabled": True, "days": 30, "url": "https://demo.myshopify.com/new"}}},
    {"automations": {"winback": {"days": 730}}},
    {"governor": {"quiet_hours": {"enabled": False, "purposes": ["marketing", "transactional"]}}},
    {"governor": {"frequency_caps": {"transactional": {"max_messages": 5, "per_hours": 24}}}},
    {"governor": {"pair_interval_seconds": 6}},
    {"auto_reply": {"enabled": True, "hours": {"mon": "09:00-17:00", "sat": ["10:00-12:00", "13:00-14:00"],
                                               "sun": "00:00-24:00"}, "hours_text": "Mon 9-17"}},
    {"invoice": {"address_lines": ["Hauptstr. 1", "10115 Berlin"], "tax_id": "DE123456789",
                 "email": "billing@example.com"}},
    {"link_domains": ["www.dhl.de", "WWW.UPS.COM"]},
    {"retention_days": 7, "redact_after_uninstall_days": 2},
    {"woocommerce": {"checkout_link": True, "plugin_endpoint": False}},
])
def test_each_rule_accepts_its_good_values(patch):
    settings = apply_patch({}, patch).settings
    assert merge_patch(settings, patch) == settings


def test_unknown_fields_are_refused_at_every_level():
    assert errors_of({"automation": {}}) == {"automation": ["Unknown field."]}
    assert errors_of({"automations": {"abandoned_cartt": {}}}) == {
        "automations": {"abandoned_cartt": ["Unknown field."]}}
    assert errors_of(cart(delay_seconds=[3600])) == {
        "automations": {"abandoned_cart": {"delay_seconds": ["Unknown field."]}}}


def test_errors_are_marshmallows_nested_shape_for_several_fields():
    errors = errors_of({"automations": {"abandoned_cart": {"delays_seconds": [60], "discount_percent": 95}},
                        "governor": {"quiet_hours": {"end": "8"}}})
    assert set(errors) == {"automations", "governor"}
    assert set(errors["automations"]["abandoned_cart"]) == {"delays_seconds", "discount_percent"}
    assert isinstance(errors["governor"]["quiet_hours"]["end"][0], str)


# -- merge patch (RFC 7396) ------------------------------------------------------------------------

@pytest.mark.parametrize(("target", "patch", "result"), [  # RFC 7396, appendix A
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
])
def test_merge_patch_follows_rfc_7396(target, patch, result):
    assert merge_patch(target, patch) == result


def test_null_brings_the_default_back_and_siblings_stay():
    stored = {"automations": {"abandoned_cart": {"delays_seconds": [1800, 7200], "discount_code": "SPRING"}},
              "retention_days": 30}
    patched = apply_patch(stored, cart(delays_seconds=None))
    assert patched.settings["automations"]["abandoned_cart"]["delays_seconds"] == [3600, 86400, 259200]
    assert patched.settings["automations"]["abandoned_cart"]["discount_code"] == "SPRING"
    assert patched.settings["retention_days"] == 30
    assert patched.stored == {"automations": {"abandoned_cart": {"discount_code": "SPRING"}}, "retention_days": 30}
    assert apply_patch(stored, {"automations": None}).settings["automations"] == defaults()["automations"]


def test_a_list_is_replaced_whole():
    patched = apply_patch({"link_domains": ["www.dhl.de"]}, {"link_domains": ["www.ups.com"]})
    assert patched.settings["link_domains"] == ["www.ups.com"]


def test_an_operators_compressed_clock_survives_a_merchants_other_change():
    stored = {"automations": {"abandoned_cart": {"delays_seconds": [2, 4, 40]}}}
    patched = apply_patch(stored, {"retention_days": 90})
    assert patched.settings["automations"]["abandoned_cart"]["delays_seconds"] == [2, 4, 40]
    # but a merchant who touches it must meet the bounds
    assert "delays_seconds" in errors_of(cart(delays_seconds=[2, 4]), stored)["automations"]["abandoned_cart"]


# -- reading what is stored ------------------------------------------------------------------------

def test_an_operators_short_delays_are_read_as_stored():
    stored = {"automations": {"abandoned_cart": {"delays_seconds": [0, 3600, 7200]},
                              "cod_confirmation": {"reminder_delay_seconds": 1},
                              "review_request": {"delay_seconds": 0}},
              "governor": {"pair_interval_seconds": 0.2}}
    settings = effective(shop(stored))
    assert settings["automations"]["abandoned_cart"]["delays_seconds"] == [0, 3600, 7200]
    assert settings["automations"]["cod_confirmation"]["reminder_delay_seconds"] == 1
    assert settings["automations"]["review_request"]["delay_seconds"] == 0
    assert settings["governor"]["pair_interval_seconds"] == 0.2


def test_an_invalid_stored_value_is_read_as_its_default_with_a_warning_naming_only_its_path(caplog, monkeypatch):
    monkeypatch.setattr(shop_settings, "_WARNED", set())
    stored = {"automations": {"abandoned_cart": {"delays_seconds": [7200, 3600], "discount_code": "SPRING"},
                              "order_confirmation": {"invoice_prefix": "+4915112345678" * 3}},
              "governor": {"quiet_hours": {"start": "25:99", "enabled": True}},
              "auto_reply": {"enabled": True, "hours": {"mon": "Maria's hours"}},
              "not_a_setting": {"phone": "+4915112345678"}}
    with caplog.at_level(logging.WARNING, logger="connector.shop_settings"):
        settings = effective(shop(stored))
    assert settings["automations"]["abandoned_cart"]["delays_seconds"] == [3600, 86400, 259200]
    assert settings["automations"]["abandoned_cart"]["discount_code"] == "SPRING"
    assert settings["automations"]["order_confirmation"]["invoice_prefix"] == ""
    assert settings["governor"]["quiet_hours"] == {**defaults()["governor"]["quiet_hours"], "enabled": True}
    assert settings["auto_reply"] == {"enabled": True, "hours": None, "hours_text": ""}  # no hours: no auto-reply
    (record,) = [r for r in caplog.records if r.message == "shop_settings.invalid_ignored"]
    assert record.shop_id == 7
    assert sorted(record.paths) == ["auto_reply.hours", "automations.abandoned_cart.delays_seconds",
                                    "automations.order_confirmation.invoice_prefix", "governor.quiet_hours.start",
                                    "not_a_setting"]
    logged = repr(record.__dict__)
    assert "+4915112345678" not in logged and "25:99" not in logged and "Maria" not in logged
    # and the governor can be built from it: a bad row never stops sending
    Policy.from_settings(settings["governor"], shop_time_zone="UTC", messaging_limit=None)
    # warned once per shop, not on every read
    effective(shop(stored))
    assert len([r for r in caplog.records if r.message == "shop_settings.invalid_ignored"]) == 1


def test_a_read_cannot_change_what_the_next_read_sees():
    one = shop({"link_domains": ["www.dhl.de"]})
    effective(one)["link_domains"].append("evil.example")
    assert effective(one)["link_domains"] == ["www.dhl.de"]


def test_changes_lists_each_setting_before_and_after():
    before = defaults()
    after = apply_patch({}, {"governor": {"quiet_hours": {"start": "22:00"}},
                             "auto_reply": {"hours": {"mon": "09:00-17:00"}}}).settings
    assert shop_settings.changes(before, after) == [
        {"path": "auto_reply.hours", "before": None, "after": {"mon": "09:00-17:00"}},
        {"path": "governor.quiet_hours.start", "before": "21:00", "after": "22:00"}]


def test_numbers_keep_their_json_type_and_must_be_finite():
    settings = apply_patch({}, cart(discount_percent=15)).settings
    assert type(settings["automations"]["abandoned_cart"]["discount_percent"]) is int  # a coupon of "15", not "15.0"
    assert "discount_percent" in errors_of(cart(discount_percent=float("nan")))["automations"]["abandoned_cart"]
    assert "pair_interval_seconds" in errors_of({"governor": {"pair_interval_seconds": float("inf")}})["governor"]


@pytest.mark.parametrize("stored", [["a", "list"], "text", 42, {"automations": "off"}, {"governor": []}])
def test_settings_of_the_wrong_shape_altogether_are_read_as_the_defaults(stored):
    assert effective(shop(stored)) == defaults()
    assert apply_patch(stored, {"retention_days": 30}).stored == {"retention_days": 30}
