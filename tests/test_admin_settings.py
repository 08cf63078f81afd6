"""The settings API of the embedded admin: GET/PATCH /admin/api/settings (ETag, If-Match,
JSON merge patch, 422 with marshmallow's errors) and GET /admin/api/settings/history."""

from __future__ import annotations

from sqlalchemy import func, select

from connector.extensions import db
from connector.models import Message, SettingsChange, Shop
from connector.shop_settings import defaults
from tests.automation_events import apply, checkout, now, timedelta
from tests.factories import make_contact, make_shop

MERGE_PATCH = "application/merge-patch+json"
CART_30_MINUTES = {"automations": {"abandoned_cart": {"delays_seconds": [1800, 86400, 259200]}}}


def connected_shop(fake_shopify, domain: str | None = None, **options) -> Shop:
    """A shop the admin's session tokens resolve without a token exchange."""
    shop = make_shop(domain or fake_shopify.shop_domain, **options)
    shop.credentials = {"kind": "custom_app", "access_token": "shpat_test"}
    db.session.commit()
    return shop


def auth(fake_shopify, domain: str | None = None, user_id: str = "42") -> dict:
    if domain is None:
        return {"Authorization": f"Bearer {fake_shopify.session_token(user_id=user_id)}"}
    token = fake_shopify.session_token(user_id=user_id, iss=f"https://{domain}/admin", dest=f"https://{domain}")
    return {"Authorization": f"Bearer {token}"}


def patch(client, headers: dict, body, *, content_type: str = MERGE_PATCH, if_match: str | None = None):
    extra = {"If-Match": if_match} if if_match is not None else {}
    return client.patch("/admin/api/settings", json=body, headers={**headers, **extra, "Content-Type": content_type})


def stored(shop_id: int) -> dict:
    db.session.expire_all()
    return db.session.get(Shop, shop_id).settings


def history_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(SettingsChange))


def test_get_answers_the_full_settings_with_defaults_and_an_etag(client, fake_shopify):
    connected_shop(fake_shopify, settings={"retention_days": 30})
    response = client.get("/admin/api/settings", headers=auth(fake_shopify))
    assert response.status_code == 200
    assert response.get_json() == {**defaults(), "retention_days": 30}
    assert response.headers["ETag"].startswith('"') and response.headers["Cache-Control"] == "no-store"
    assert client.get("/admin/api/settings", headers=auth(fake_shopify)).headers["ETag"] == response.headers["ETag"]
    assert client.get("/admin/api/settings").status_code == 401


def test_patch_merges_answers_the_full_settings_and_a_new_etag(client, fake_shopify):
    shop = connected_shop(fake_shopify)
    headers = auth(fake_shopify)
    first = client.get("/admin/api/settings", headers=headers)
    response = patch(client, headers, {"automations": {"abandoned_cart": {"discount_code": "SPRING"}},
                                       "governor": {"quiet_hours": {"start": "22:00"}}})
    assert response.status_code == 200
    settings = response.get_json()
    assert settings["automations"]["abandoned_cart"]["discount_code"] == "SPRING"
    assert settings["governor"]["quiet_hours"] == {"enabled": False, "start": "22:00", "end": "08:00",
                                                   "purposes": ["marketing"]}  # make_shop's quiet hours stay off
    assert response.headers["ETag"] != first.headers["ETag"]
    again = client.get("/admin/api/settings", headers=headers)
    assert again.get_json() == settings and again.headers["ETag"] == response.headers["ETag"]
    assert stored(shop.id) == {"automations": {"abandoned_cart": {"discount_code": "SPRING"}},
                               "governor": {"quiet_hours": {"enabled": False, "start": "22:00"}}}
    # plain JSON is accepted too; anything else is not
    assert patch(client, headers, {"retention_days": 90}, content_type="application/json").status_code == 200
    assert patch(client, headers, {"retention_days": 60}, content_type="text/plain").status_code == 415
    assert stored(shop.id)["retention_days"] == 90


def test_null_deletes_a_key_so_its_default_comes_back(client, fake_shopify):
    shop = connected_shop(fake_shopify, settings={"retention_days": 30, "link_domains": ["www.dhl.de"]})
    response = patch(client, auth(fake_shopify), {"retention_days": None})
    assert response.status_code == 200
    assert response.get_json()["retention_days"] == 180 and response.get_json()["link_domains"] == ["www.dhl.de"]
    assert stored(shop.id) == {"link_domains": ["www.dhl.de"]}


def test_if_match_with_a_stale_etag_is_412_and_changes_nothing(client, fake_shopify):
    shop = connected_shop(fake_shopify)
    headers = auth(fake_shopify)
    read = client.get("/admin/api/settings", headers=headers).headers["ETag"]
    saved = patch(client, headers, {"retention_days": 90}, if_match=read)
    assert saved.status_code == 200
    # a second tab still holds the first ETag
    stale = patch(client, headers, {"retention_days": 30}, if_match=read)
    assert stale.status_code == 412 and stale.get_json()["error"] == "precondition_failed"
    assert stored(shop.id)["retention_days"] == 90 and history_rows() == 1
    assert patch(client, headers, {"retention_days": 30}, if_match=saved.headers["ETag"]).status_code == 200
    assert patch(client, headers, {"retention_days": 60}, if_match="*").status_code == 200
    assert patch(client, headers, {"retention_days": 45}, if_match='"elsewhere", ' + read).status_code == 412


def test_invalid_values_are_422_with_marshmallows_errors_and_nothing_is_written(client, fake_shopify):
    shop = connected_shop(fake_shopify)
    headers = auth(fake_shopify)
    before = stored(shop.id)
    tag = client.get("/admin/api/settings", headers=headers).headers["ETag"]

    response = patch(client, headers, {"automations": {"abandoned_cart": {"delays_seconds": [60, 3600]}},
                                       "retention_days": 90})
    assert response.status_code == 422
    body = response.get_json()
    assert list(body) == ["errors"]
    assert list(body["errors"]) == ["automations"]
    (message,) = body["errors"]["automations"]["abandoned_cart"]["delays_seconds"]
    assert "15 minutes" in message

    unknown = patch(client, headers, {"automations": {"abandoned_cart": {"delay": 5}}, "colour": "red"})
    assert unknown.status_code == 422
    assert unknown.get_json() == {"errors": {"automations": {"abandoned_cart": {"delay": ["Unknown field."]}},
                                             "colour": ["Unknown field."]}}
    assert stored(shop.id) == before and history_rows() == 0
    assert client.get("/admin/api/settings", headers=headers).headers["ETag"] == tag
    # not JSON, or not an object: 400
    bad = client.patch("/admin/api/settings", data=b"{", headers={**headers, "Content-Type": MERGE_PATCH})
    assert bad.status_code == 400
    assert patch(client, headers, [1, 2]).status_code == 400


def test_every_change_is_in_the_history_newest_first_and_paged(client, fake_shopify):
    connected_shop(fake_shopify)
    for days, user in ((90, "42"), (60, "43"), (30, "42")):
        assert patch(client, auth(fake_shopify, user_id=user), {"retention_days": days}).status_code == 200
    assert patch(client, auth(fake_shopify), {"retention_days": 30}).status_code == 200  # no change: no entry
    assert patch(client, auth(fake_shopify), {"retention_days": None, "automations": {
        "review_request": {"enabled": True}}}).status_code == 200

    page = client.get("/admin/api/settings/history?limit=2", headers=auth(fake_shopify)).get_json()
    newest, second = page["history"]
    assert newest["changed_by"] == "42" and newest["changes"] == [
        {"path": "automations.review_request.enabled", "before": False, "after": True},
        {"path": "retention_days", "before": 30, "after": 180}]
    assert second["changes"] == [{"path": "retention_days", "before": 60, "after": 30}]
    assert newest["changed_at"] >= second["changed_at"]
    rest = client.get(f"/admin/api/settings/history?limit=2&before={page['next_before']}",
                      headers=auth(fake_shopify)).get_json()
    assert [entry["changes"][0]["after"] for entry in rest["history"]] == [60, 90]
    assert [entry["changed_by"] for entry in rest["history"]] == ["43", "42"]
    assert rest["next_before"] == rest["history"][-1]["id"]
    last = client.get(f"/admin/api/settings/history?before={rest['next_before']}", headers=auth(fake_shopify))
    assert last.get_json() == {"history": [], "next_before": None}
    assert client.get("/admin/api/settings/history?limit=0", headers=auth(fake_shopify)).status_code == 400
    assert client.get("/admin/api/settings/history?before=x", headers=auth(fake_shopify)).status_code == 400


def test_a_shops_token_reads_and_changes_only_its_own_settings(client, fake_shopify):
    mine = connected_shop(fake_shopify, phone_number_id="5000001", settings={"retention_days": 30})
    theirs = connected_shop(fake_shopify, "other-shop.myshopify.com", phone_number_id="5000002",
                            settings={"retention_days": 365})
    other = auth(fake_shopify, "other-shop.myshopify.com", user_id="77")
    assert client.get("/admin/api/settings", headers=other).get_json()["retention_days"] == 365
    assert patch(client, other, {"retention_days": 400}).status_code == 200
    assert client.get("/admin/api/settings", headers=auth(fake_shopify)).get_json()["retention_days"] == 30
    assert stored(mine.id) == {"retention_days": 30} and stored(theirs.id) == {"retention_days": 400}
    assert client.get("/admin/api/settings/history", headers=auth(fake_shopify)).get_json()["history"] == []
    (entry,) = client.get("/admin/api/settings/history", headers=other).get_json()["history"]
    assert entry["changed_by"] == "77"
    # an ETag of the other shop's settings is stale for this one
    their_tag = client.get("/admin/api/settings", headers=other).headers["ETag"]
    assert patch(client, auth(fake_shopify), {"retention_days": 60}, if_match=their_tag).status_code == 412


def test_a_cart_after_a_delay_change_has_its_first_step_due_in_30_minutes(client, fake_shopify):
    shop = connected_shop(fake_shopify, phone_number_id="5000003")
    make_contact(shop, "+4915123456789")
    response = patch(client, auth(fake_shopify), CART_30_MINUTES)
    assert response.status_code == 200
    assert response.get_json()["automations"]["abandoned_cart"]["delays_seconds"] == [1800, 86400, 259200]

    db.session.expire_all()
    shop = db.session.get(Shop, shop.id)
    started = now()
    apply(shop, checkout("cart-after-change", at=started))
    steps = db.session.scalars(select(Message).where(Message.automation == "abandoned_cart")
                               .order_by(Message.id)).all()
    assert len(steps) == 3
    assert abs(steps[0].due_at - (started + timedelta(minutes=30))) < timedelta(seconds=2)
    assert abs(steps[1].due_at - (started + timedelta(days=1))) < timedelta(seconds=2)
