"""Issue 14, point 6: the shop's messaging limit is learnt from Meta (the phone number's node
when the number is set and daily, the limit webhooks as they come) and the governor uses it.

Through the real pieces: the `connector` command, the sandbox's Graph node over HTTP, signed
webhooks into `/webhooks/whatsapp` (Meta's documented payloads from tests/fixtures), real workers.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from connector.extensions import db
from connector.models import Message, Shop, WhatsAppAccount
from tests.factories import make_contact, make_shop, order_confirmation
from tests.test_whatsapp_endpoint import post

FIXTURES = Path(__file__).parent / "fixtures" / "payloads" / "whatsapp"



def account() -> WhatsAppAccount:
    db.session.expire_all()
    return db.session.scalars(select(WhatsAppAccount)).one()


def test_14_6_whatsapp_set_reads_the_portfolio_limit_from_meta(run, sandbox):
    shop = make_shop(phone_number_id="1000001")
    db.session.delete(account())
    db.session.commit()
    sandbox.set_number("555000111", whatsapp_business_manager_messaging_limit="TIER_10K",
                       messaging_limit_tier="TIER_1K")
    result = run("whatsapp", "set", "--shop", str(shop.id), "--phone-number-id", "555000111",
                 "--access-token", "T", "--waba-id", "W")
    assert result.exit_code == 0, result.output
    assert account().messaging_limit == 10000  # the portfolio's limit, not the deprecated per-number tier
    assert "Meta says 10000" in result.output

    # an explicit value is the operator's ceiling under Meta's limit
    capped = run("whatsapp", "set", "--shop", str(shop.id), "--phone-number-id", "555000111",
                 "--access-token", "T", "--messaging-limit", "500")
    assert capped.exit_code == 0 and account().messaging_limit == 500 and "your ceiling 500" in capped.output

    # once Meta stops sending the portfolio field, the per-number tier is what there is
    sandbox.set_number("555000111", whatsapp_business_manager_messaging_limit=None, messaging_limit_tier="TIER_250")
    assert run("whatsapp", "set", "--shop", str(shop.id), "--phone-number-id", "555000111",
               "--access-token", "T", "--messaging-limit", "0").exit_code == 0
    assert account().messaging_limit == 250


def test_14_6_a_failed_read_keeps_the_limit_and_says_so(run, sandbox):
    shop = make_shop()
    sandbox.inject(kind="http", status=503, count=1)
    result = run("whatsapp", "set", "--shop", str(shop.id), "--phone-number-id", "1000001", "--access-token", "T")
    assert result.exit_code == 0, result.output
    assert account().messaging_limit == 1000 and "not read from Meta" in result.output


def _webhook(client, name: str, waba_id: str) -> None:
    body = json.loads((FIXTURES / f"{name}.json").read_text())
    body["entry"][0]["id"] = waba_id  # Meta's sample WABA ids, pointed at this test's shop
    assert post(client, json.dumps(body).encode()).status_code == 200


def test_14_6_limit_webhooks_change_what_the_governor_admits(client, drain):
    shop = make_shop(messaging_limit=1)
    first, second = make_contact(shop, "+4915112345678"), make_contact(shop, "+4915112345679")
    order_confirmation(shop, first, key="order:1:confirmation")
    order_confirmation(shop, second, key="order:2:confirmation")

    def messages() -> list[Message]:
        db.session.expire_all()
        return db.session.scalars(select(Message).order_by(Message.id)).all()

    assert drain(lambda: [m.status_reason for m in messages()][1] == "messaging_limit")
    assert messages()[0].status != "queued" and messages()[1].status == "queued"

    # Meta's business_capability_update: the portfolio may now reach 2,000 a day
    _webhook(client, "business_capability_update__portfolio_limit", "WABA1")
    assert drain(lambda: account().messaging_limit == 2000)
    assert drain(lambda: messages()[1].status in ("sent", "delivered", "read"))  # released at once, not in 24 h

    _webhook(client, "business_capability_update__unlimited", "WABA1")
    assert drain(lambda: account().messaging_limit is None)
    _webhook(client, "phone_number_quality_update__throughput_upgrade", "WABA1")  # throughput only
    drain(lambda: "throughput_event" in (db.session.get(Shop, shop.id).sync_state or {}).get("whatsapp_limit", {}))
    assert account().messaging_limit is None
    _webhook(client, "phone_number_quality_update__portfolio_limit", "WABA1")
    assert drain(lambda: account().messaging_limit == 2000)


def test_14_6_the_limit_is_read_again_once_a_day(ctx, sandbox, run_worker):
    from connector.messaging.limits import schedule_limit_refreshes

    make_shop()
    sandbox.set_number("1000001", whatsapp_business_manager_messaging_limit="TIER_100K")
    assert schedule_limit_refreshes() == 1
    run_worker()
    assert account().messaging_limit == 100000
    assert schedule_limit_refreshes() == 0  # checked less than a day ago


def test_14_6_the_sweep_reads_the_limit_once_a_day(ctx, sandbox, run_worker):
    from connector.jobs.sweep import sweep

    make_shop()
    sandbox.set_number("1000001", whatsapp_business_manager_messaging_limit="TIER_10K")
    assert sweep()["limit_reads"] == 1
    run_worker()
    assert account().messaging_limit == 10000
    assert sweep()["limit_reads"] == 0  # read today already
