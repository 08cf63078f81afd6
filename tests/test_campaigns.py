"""Campaigns end to end: segments in SQL, planning into the outbox, pause/resume/cancel, the
holdout, A/B assignment, local send times, the governor's gates, the CLI contract."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select

from connector.campaigns import control, planner, segments
from connector.campaigns.report import report
from connector.extensions import db
from connector.models import (
    Campaign,
    CampaignRecipient,
    Contact,
    LinkClick,
    Message,
    MessageStatus,
    OrderLine,
    OrderRecord,
    ShortLink,
    utcnow,
)
from connector.models.campaigns import HOLDOUT, REST
from tests.factories import make_contact, make_shop

OFFER = {"offer": "the autumn blend is back"}


def _shop(**settings):
    base = {"governor": {"quiet_hours": {"enabled": False}, "pair_interval_seconds": 6}}
    base.update(settings)
    return make_shop(settings=base, messaging_limit=None, throughput=80)


def _create(shop, segment=None, **body):
    data = {"name": "Autumn", "template": "campaign_announcement", "segment": segment or {}, "variables": OFFER}
    data.update(body)
    return control.create(shop, data)


def _messages(campaign_id):
    db.session.expire_all()
    return db.session.scalars(select(Message).where(Message.campaign_id == campaign_id).order_by(Message.id)).all()


def _contacts(shop, count, *, country="DE", zone="Europe/Berlin", marketing=True, start=0):
    now = utcnow()
    rows = [{"shop_id": shop.id, "phone_e164": f"+49151{start + index:08d}", "name": f"Kim {index}", "locale": "de",
             "country": country, "time_zone": zone, "marketing_consent": "granted" if marketing else "none",
             "marketing_consent_at": now if marketing else None, "transactional_consent": "granted",
             "created_at": now, "updated_at": now} for index in range(count)]
    db.session.execute(insert(Contact), rows)
    db.session.commit()


# -- segments ------------------------------------------------------------------------------------

def test_a_segment_holds_only_consented_contacts_that_meet_every_condition(ctx):
    shop = _shop()
    other = make_shop("other.myshopify.com", phone_number_id="1000002")
    now = utcnow()
    de = make_contact(shop, "+4915100000001")
    de.marketing_consent_source = "popup:exit"
    make_contact(shop, "+4915100000002", marketing=False)  # no consent: never in a segment
    fr = make_contact(shop, "+33612345678")
    fr.country, fr.locale = "FR", "fr-FR"
    make_contact(other, "+4915100000003")  # another shop's
    buyer = make_contact(shop, "+4915100000004")
    db.session.add_all([OrderRecord(shop_id=shop.id, contact_id=buyer.id, order_id=str(n), total=Decimal("40.00"),
                                    placed_at=now - timedelta(days=10 * n)) for n in (1, 2, 3)])
    db.session.add(OrderRecord(shop_id=shop.id, contact_id=de.id, order_id="9", total=Decimal("500"),
                               placed_at=now - timedelta(days=200), cancelled_at=now - timedelta(days=199)))
    db.session.commit()

    def ids(segment):
        conditions = segments.parse(segment)
        return set(db.session.scalars(segments.segment_query(shop.id, conditions)).all())

    assert ids({}) == {de.id, fr.id, buyer.id}
    assert ids({"country": ["de"]}) == {de.id, buyer.id}
    assert ids({"locale": ["fr"]}) == {fr.id}
    assert ids({"orders_min": 3, "spent_min": "120"}) == {buyer.id}
    assert ids({"orders_max": 0}) == {de.id, fr.id}  # the cancelled order does not count
    assert ids({"last_order_within_days": 15}) == {buyer.id}
    assert ids({"last_order_before_days": 15}) == set()
    assert ids({"source": ["popup"]}) == {de.id}
    assert ids({"country": ["DE"], "orders_min": 1}) == {buyer.id}
    db.session.add(OrderLine(shop_id=shop.id, order_id="1", contact_id=buyer.id, product_id="P-7", variant_id="V-7",
                             quantity=1, placed_at=now))
    db.session.commit()
    assert ids({"bought_product": ["P-7", "P-8"]}) == {buyer.id}
    assert ids({"bought_product": ["P-8"]}) == set()
    assert segments.count(shop.id, segments.parse({"country": ["DE"]})) == 2


def test_clicks_reads_and_opt_in_age_select_contacts(ctx):
    shop = _shop()
    now = utcnow()
    clicker, reader, silent = (make_contact(shop, f"+491510000000{n}") for n in (1, 2, 3))
    old = make_contact(shop, "+4915100000009")
    old.marketing_consent_at = now - timedelta(days=400)
    link = ShortLink(shop_id=shop.id, code="abcdefgh", link_key="k", target_url="https://x/", automation="t",
                     contact_id=clicker.id)
    db.session.add(link)
    db.session.flush()
    db.session.add(LinkClick(shop_id=shop.id, link_id=link.id, contact_id=clicker.id, clicked_at=now))
    for n in range(3):
        for contact, read in ((reader, n == 2), (silent, False)):
            db.session.add(Message(shop_id=shop.id, contact_id=contact.id, idempotency_key=f"m{contact.id}:{n}",
                                   automation="t", purpose="marketing", kind="text", content={"text": "x"},
                                   status="read" if read else "delivered", due_at=now,
                                   sent_at=now - timedelta(days=3 - n), read_at=now if read else None))
    db.session.commit()

    def ids(segment):
        return set(db.session.scalars(segments.segment_query(shop.id, segments.parse(segment))).all())

    assert ids({"clicked_within_days": 7}) == {clicker.id}
    assert ids({"not_read_last": 3}) == {silent.id}  # the reader read the latest one; the others got none
    assert ids({"not_read_last": 2}) == {silent.id}
    assert ids({"opted_in_within_days": 30}) == {clicker.id, reader.id, silent.id}


@pytest.mark.parametrize("segment, field", [
    ({"countries": ["DE"]}, "countries"),
    ({"orders_min": -1}, "orders_min"),
    ({"orders_min": 5, "orders_max": 2}, "orders_max"),
    ({"locale": "de"}, "locale"),
    ({"not_read_last": 0}, "not_read_last"),
])
def test_an_invalid_segment_is_refused_with_the_field(ctx, segment, field):
    with pytest.raises(Exception) as raised:
        segments.parse(segment)
    assert field in raised.value.messages


# -- planning and sending ------------------------------------------------------------------------

def test_only_consented_contacts_of_the_segment_receive_it_once(ctx, client, drain, sandbox, run):
    shop = _shop()
    de = make_contact(shop, "+4915100000001")
    make_contact(shop, "+4915100000002", marketing=False)
    fr = make_contact(shop, "+33612345678")
    fr.country = "FR"
    db.session.commit()
    campaign = _create(shop, {"country": ["DE"]}, link=f"https://{shop.domain}/collections/autumn")
    control.start(campaign.id)

    assert drain(lambda: len(sandbox.messages()) == 1 and _messages(campaign.id)[0].status == MessageStatus.READ)
    sent = sandbox.messages()[0]
    assert sent["to"] == de.phone_e164
    assert sent["payload"]["template"]["name"] == "campaign_announcement"
    assert sent["payload"]["template"]["language"]["code"] == "de"
    body = next(c for c in sent["payload"]["template"]["components"] if c["type"] == "body")
    assert [p["text"] for p in body["parameters"]] == ["Maria", shop.name or shop.domain, OFFER["offer"]]
    button = next(c for c in sent["payload"]["template"]["components"] if c["type"] == "button")
    suffix = button["parameters"][0]["text"]
    link = db.session.scalars(select(ShortLink).where(ShortLink.code == suffix.split(".")[0])).one()
    assert link.target_url.startswith(f"https://{shop.domain}/collections/autumn?")
    # the recipient's click is counted for them and their message; an altered suffix is a 404
    clicked = client.get(f"/l/{suffix}")
    assert clicked.status_code == 302 and clicked.headers["Location"] == link.target_url
    click = db.session.scalars(select(LinkClick)).one()
    assert click.contact_id == de.id and click.message_id == _messages(campaign.id)[0].id
    forged = suffix.rsplit(".", 2)
    other = f"{forged[0]}.{int(forged[1], 36) + 1:x}.{forged[2]}"
    assert client.get(f"/l/{other}").status_code == 404
    assert client.get(f"/l/{suffix[:-1]}").status_code == 404
    drain(lambda: True)
    assert len(sandbox.messages()) == 1
    result = run("campaigns", "report", "--campaign", str(campaign.id), "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["sent"] == 1 and figures["status"] == "completed" and figures["recipients"] == 1
    assert figures["clicked"] == 1
    from_card = db.session.get(Message, _messages(campaign.id)[0].id).estimated_cost
    assert from_card > 0 and Decimal(figures["cost"]) == from_card.quantize(Decimal("0.0001"))


def test_a_contact_within_the_frequency_cap_is_deferred_not_doubled(ctx, drain, sandbox):
    shop = make_shop(settings={"governor": {"quiet_hours": {"enabled": False},
                                            "frequency_caps": {"marketing": {"max_messages": 1, "per_hours": 24}}}},
                     messaging_limit=None)
    capped = make_contact(shop, "+4915100000001")
    free = make_contact(shop, "+4915100000002")
    now = utcnow()
    db.session.add(Message(shop_id=shop.id, contact_id=capped.id, idempotency_key="cart:1:step:1",
                           automation="abandoned_cart", purpose="marketing", kind="template",
                           template_name="cart_reminder_1", language="de", content={}, status="read",
                           due_at=now - timedelta(hours=2), sent_at=now - timedelta(hours=2)))
    db.session.commit()
    campaign = _create(shop)
    control.start(campaign.id)

    assert drain(lambda: any(m.status == MessageStatus.READ for m in _messages(campaign.id)))
    drain(lambda: True)
    by_contact = {m.contact_id: m for m in _messages(campaign.id)}
    assert by_contact[free.id].status == MessageStatus.READ
    assert by_contact[capped.id].status == MessageStatus.QUEUED
    assert by_contact[capped.id].status_reason == "frequency_cap" and by_contact[capped.id].due_at > now
    assert [m["to"] for m in sandbox.messages()] == [free.phone_e164]


def test_ten_o_clock_local_reaches_berlin_and_sao_paulo_at_their_ten(ctx):
    shop = _shop()
    berlin = make_contact(shop, "+4915100000001", time_zone="Europe/Berlin")
    paulo = make_contact(shop, "+5511912345678", time_zone="America/Sao_Paulo")
    nowhere = make_contact(shop, "+4915100000003", time_zone=None)  # the shop's zone (UTC here)
    campaign = _create(shop, local_time="10:00")
    control.start(campaign.id)
    planner.plan(campaign.id)

    due = {m.contact_id: m.due_at for m in _messages(campaign.id)}
    started = db.session.get(Campaign, campaign.id).started_at
    for contact, zone in ((berlin, "Europe/Berlin"), (paulo, "America/Sao_Paulo"), (nowhere, "UTC")):
        local = due[contact.id].astimezone(ZoneInfo(zone))
        assert (local.hour, local.minute) == (10, 0)
        assert started <= due[contact.id] < started + timedelta(days=1)
    assert due[berlin.id] != due[paulo.id]


def test_next_local_skips_a_time_that_passed_and_survives_dst():
    start = datetime(2026, 3, 29, 0, 30, tzinfo=timezone.utc)  # Berlin jumps 02:00 → 03:00 that night
    berlin = ZoneInfo("Europe/Berlin")
    assert planner.next_local(start, datetime.strptime("10:00", "%H:%M").time(), berlin).astimezone(berlin).hour == 10
    skipped = planner.next_local(start, datetime.strptime("02:30", "%H:%M").time(), berlin)
    assert skipped >= start
    passed = planner.next_local(datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc),
                                datetime.strptime("09:00", "%H:%M").time(), berlin)
    assert passed.astimezone(berlin).date().day == 2


def test_a_planner_killed_mid_way_then_restarted_writes_each_message_once(ctx, drain, sandbox, monkeypatch):
    shop = _shop()
    _contacts(shop, 25)
    campaign = _create(shop)
    control.start(campaign.id)
    monkeypatch.setattr(planner, "CHUNK", 10)
    real = planner._write_chunk
    calls = {"n": 0}

    def dies_on_the_second_chunk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(planner, "_write_chunk", dies_on_the_second_chunk)
    with pytest.raises(SystemExit):
        planner.plan(campaign.id)
    db.session.rollback()
    assert len(_messages(campaign.id)) == 10
    assert db.session.get(Campaign, campaign.id).planned_at is None
    monkeypatch.setattr(planner, "_write_chunk", real)
    # the sweep restarts a planner whose heartbeat stopped
    assert control.tend(utcnow() + planner.HEARTBEAT + timedelta(seconds=1)) == 1
    assert drain(lambda: len(sandbox.messages()) == 25)
    drain(lambda: True)
    assert len(_messages(campaign.id)) == 25
    phones = [m["to"] for m in sandbox.messages()]
    assert len(phones) == len(set(phones)) == 25
    assert db.session.get(Campaign, campaign.id).recipients == 25


def test_pause_sends_nothing_more_resume_finishes_cancel_leaves_nothing_queued(ctx, drain, sandbox, run_worker):
    shop = _shop()
    _contacts(shop, 30)
    campaign = _create(shop)
    control.start(campaign.id)
    planner.plan(campaign.id)  # planned here; no worker has run yet
    control.pause(campaign.id)
    assert {m.status for m in _messages(campaign.id)} == {MessageStatus.PAUSED}
    run_worker()
    assert sandbox.messages() == []

    control.resume(campaign.id)
    assert drain(lambda: len(sandbox.messages()) == 30)
    drain(lambda: True)
    assert len(sandbox.messages()) == 30

    second = _create(shop, name="Second")
    control.start(second.id)
    planner.plan(second.id)
    cancelled = control.cancel(second.id)
    assert cancelled.status == Campaign.CANCELLED
    statuses = {m.status for m in _messages(second.id)}
    assert statuses == {MessageStatus.CANCELLED}
    run_worker()
    assert len(sandbox.messages()) == 30
    with pytest.raises(control.CampaignStateError):
        control.resume(second.id)


def test_a_pause_during_planning_holds_what_is_planned_after_it(ctx, monkeypatch):
    shop = _shop()
    _contacts(shop, 20)
    campaign = _create(shop)
    control.start(campaign.id)
    monkeypatch.setattr(planner, "CHUNK", 10)
    real = planner._write_chunk
    calls = {"n": 0}

    def pauses_after_the_first(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            control.pause(campaign.id)
        return real(*args, **kwargs)

    monkeypatch.setattr(planner, "_write_chunk", pauses_after_the_first)
    planner.plan(campaign.id)
    statuses = [m.status for m in _messages(campaign.id)]
    assert statuses == [MessageStatus.PAUSED] * 20  # the first chunk's rows were paused, the second's born so
    done = db.session.get(Campaign, campaign.id)
    assert done.status == Campaign.PAUSED and done.planned_at is not None


def test_131049_on_one_campaign_holds_the_contact_s_next_campaign_24_hours(ctx, drain, sandbox):
    shop = _shop()
    held = make_contact(shop, "+4915100000001")
    other = make_contact(shop, "+4915100000002")
    sandbox.inject(kind="error", code=131049, count=1, to=held.phone_e164)  # Meta's per-user marketing limit
    first = _create(shop)
    control.start(first.id)
    assert drain(lambda: {m.contact_id: m.status for m in _messages(first.id)}
                 == {held.id: MessageStatus.FAILED, other.id: MessageStatus.READ})
    paused_until = db.session.get(Contact, held.id).marketing_paused_until
    assert paused_until >= utcnow() + timedelta(hours=23)

    second = _create(shop, name="Second")
    control.start(second.id)
    assert drain(lambda: any(m.status == MessageStatus.READ for m in _messages(second.id)))
    waiting = next(m for m in _messages(second.id) if m.contact_id == held.id)
    assert waiting.status == MessageStatus.QUEUED and waiting.status_reason == "per_user_marketing_limit"
    assert abs((waiting.due_at - paused_until).total_seconds()) < 1
    assert [m["to"] for m in sandbox.messages()].count(held.phone_e164) == 0


def test_ab_proportions_and_holdout_at_ten_thousand_contacts_stable_across_runs(ctx):
    shop = _shop()
    _contacts(shop, 10_000)
    variants = [{"name": "A", "weight": 50}, {"name": "B", "weight": 30, "variables": {"offer": "20% off"}},
                {"name": "C", "weight": 20, "variables": {"offer": "free shipping"}}]
    campaign = _create(shop, variants=variants, holdout_percent=10)
    control.start(campaign.id)
    planner.plan(campaign.id)
    R = CampaignRecipient
    counts = dict(db.session.execute(select(R.variant, func.count()).where(R.campaign_id == campaign.id)
                                     .group_by(R.variant)).all())
    assert sum(counts.values()) == 10_000
    # expected shares: holdout 10 %, then 45 / 27 / 18 %; tolerance: 4 standard deviations of a binomial
    for variant, share in ((HOLDOUT, 0.10), (0, 0.45), (1, 0.27), (2, 0.18)):
        sigma = (10_000 * share * (1 - share)) ** 0.5
        assert abs(counts[variant] - 10_000 * share) < 4 * sigma, (variant, counts)
    stored = dict(db.session.execute(select(R.contact_id, R.variant).where(R.campaign_id == campaign.id)).all())
    weights = [50.0, 30.0, 20.0]
    assert all(planner.assign(campaign.id, contact_id, 0.10, weights) == variant
               for contact_id, variant in stored.items())
    # the holdout gets nothing; every other recipient exactly one message, with their variant's offer
    messages = _messages(campaign.id)
    assert len(messages) == 10_000 - counts[HOLDOUT]
    assert not {m.contact_id for m in messages} & {c for c, v in stored.items() if v == HOLDOUT}
    offers = {m.contact_id: m.content["body"]["offer"] for m in messages}
    assert all(offers[c] == ("the autumn blend is back", "20% off", "free shipping")[v]
               for c, v in stored.items() if v != HOLDOUT)
    planner.plan(campaign.id)  # a second run (planned already) writes nothing
    assert len(_messages(campaign.id)) == len(messages)


def test_the_report_compares_variants_with_the_holdout(ctx):
    shop = _shop()
    _contacts(shop, 400)
    campaign = _create(shop, holdout_percent=50)
    control.start(campaign.id)
    planner.plan(campaign.id)
    R = CampaignRecipient
    recipients = db.session.execute(select(R.contact_id, R.variant, R.due_at)
                                    .where(R.campaign_id == campaign.id)).all()
    # every recipient who got the message buys for 50; nobody in the holdout does
    db.session.add_all([OrderRecord(shop_id=shop.id, contact_id=contact_id, order_id=f"o{contact_id}",
                                    total=Decimal("50") if n % 2 else Decimal("30"),
                                    placed_at=due_at + timedelta(hours=1))
                        for n, (contact_id, variant, due_at) in enumerate(recipients) if variant != HOLDOUT])
    db.session.commit()
    figures = report(db.session.get(Campaign, campaign.id))
    holdout = next(g for g in figures["groups"] if g["holdout"])
    variant = next(g for g in figures["groups"] if not g["holdout"])
    assert holdout["revenue"] == 0 and holdout["sent"] == 0
    assert variant["conversion_rate"] == 1.0 and 30 <= variant["revenue_per_recipient"] <= 50
    assert variant["vs_holdout"]["low"] > 0 and figures["winner"] == "A"

    even = _create(shop, name="Even", holdout_percent=50)
    control.start(even.id)
    planner.plan(even.id)
    figures = report(db.session.get(Campaign, even.id))  # no orders in its window for either group
    assert figures["winner"] is None and figures["verdict"].startswith("no winner yet")


# -- creating: refusals --------------------------------------------------------------------------

@pytest.mark.parametrize("body, field", [
    ({"template": "order_confirmation"}, "template"),  # utility: not a campaign template
    ({"template": "no_such_template"}, "template"),
    ({"variables": {}}, "variables"),  # offer missing
    ({"variables": {"offer": "x", "coupon": "y"}}, "variables"),
    ({"segment": {"country": "DE"}}, "segment"),
    ({"local_time": "25:00"}, "local_time"),
    ({"local_time": "10:00", "at": "2027-01-01T10:00:00+01:00"}, "local_time"),
    ({"variants": [{"name": "A"}]}, "variants"),
    ({"link": "https://evil.example/"}, "link"),
    ({"holdout_percent": 80}, "holdout_percent"),
])
def test_a_campaign_that_cannot_be_sent_is_refused_and_nothing_is_stored(ctx, body, field):
    shop = _shop()
    with pytest.raises(Exception) as raised:
        _create(shop, **body)
    assert field in raised.value.messages
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 0


# -- the CLI contract ----------------------------------------------------------------------------

def test_cli_contract(ctx, run, drain, sandbox):
    shop = _shop()
    _contacts(shop, 3)
    result = run("segments", "preview", "--shop", str(shop.id), "--segment", '{"country": ["DE"]}', "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["count"] == 3
    assert run("segments", "preview", "--shop", str(shop.id), "--segment", '{"nope": 1}').exit_code == 2

    result = run("campaigns", "create", "--shop", str(shop.id), "--name", "Autumn", "--template",
                 "campaign_announcement", "--segment", '{"country": ["DE"]}', "--variables", json.dumps(OFFER),
                 "--local-time", "10:00", "--holdout", "0")
    assert result.exit_code == 0, result.output
    campaign_id = int(result.output.strip())
    preview = run("campaigns", "preview", "--campaign", str(campaign_id), "--json")
    assert json.loads(preview.output)["recipients"] == 3
    assert run("campaigns", "start", "--campaign", str(campaign_id), "--no-follow").exit_code == 0
    assert drain(lambda: db.session.get(Campaign, campaign_id).planned_at is not None)
    assert run("campaigns", "pause", "--campaign", str(campaign_id)).exit_code == 0
    assert run("campaigns", "pause", "--campaign", str(campaign_id)).exit_code == 2  # paused already
    assert run("campaigns", "resume", "--campaign", str(campaign_id)).exit_code == 0
    assert run("campaigns", "cancel", "--campaign", str(campaign_id)).exit_code == 0
    report_json = json.loads(run("campaigns", "report", "--campaign", str(campaign_id), "--json").output)
    assert report_json["sent"] == 0 and report_json["cancelled"] == 3  # 10:00 local had not come yet
    bad = run("campaigns", "create", "--shop", str(shop.id), "--name", "X", "--template", "campaign_announcement",
              "--segment", "{not json")
    assert bad.exit_code == 2 and "--segment is not JSON" in bad.output
    assert run("campaigns", "start", "--campaign", "999999").exit_code == 2


def test_the_plan_job_name_resolves():
    from rq.utils import import_attribute

    assert callable(import_attribute(control.PLAN_JOB))


def test_a_campaign_sends_the_shop_s_own_template_through_the_cli(ctx, run, drain, sandbox, tmp_path):
    from tests.test_shop_templates import spring_sale

    shop = _shop()
    make_contact(shop, "+4915100000001")
    path = tmp_path / "sale.json"
    path.write_text(json.dumps(spring_sale()), encoding="utf-8")
    assert run("templates", "create", "--shop", str(shop.id), "--file", str(path)).exit_code == 0
    name = spring_sale()["name"]
    created = run("campaigns", "create", "--shop", str(shop.id), "--name", "Spring", "--template", name,
                  "--segment", "{}", "--variables", '{"offer": "20%"}')
    assert created.exit_code == 0, created.output
    campaign_id = int(created.output.strip())
    assert run("campaigns", "start", "--campaign", str(campaign_id), "--no-follow").exit_code == 0
    assert drain(lambda: len(sandbox.messages()) == 1)
    template = sandbox.messages()[0]["payload"]["template"]
    assert template["name"] == name and template["language"]["code"] == "de"


def test_a_test_phase_sends_the_winner_to_the_rest_once(ctx, drain, sandbox, run):
    shop = _shop()
    _contacts(shop, 400)
    variants = [{"name": "A", "weight": 50}, {"name": "B", "weight": 50, "variables": {"offer": "20% off"}}]
    campaign = _create(shop, variants=variants, holdout_percent=0, test_percent=50, winner_after_hours=4)
    control.start(campaign.id)
    planner.plan(campaign.id)
    R = CampaignRecipient
    counts = dict(db.session.execute(select(R.variant, func.count()).where(R.campaign_id == campaign.id)
                                     .group_by(R.variant)).all())
    assert abs(counts[REST] - 200) < 4 * 10 and counts[0] + counts[1] + counts[REST] == 400
    assert len(_messages(campaign.id)) == counts[0] + counts[1]  # the rest waits
    # B's recipients buy, A's do not: B wins once the test has run its hours
    rows = db.session.execute(select(R.contact_id, R.variant, R.due_at).where(R.campaign_id == campaign.id)).all()
    db.session.add_all([OrderRecord(shop_id=shop.id, contact_id=c, order_id=f"o{c}", total=Decimal("40"),
                                    placed_at=due + timedelta(hours=1)) for c, v, due in rows if v == 1])
    db.session.commit()
    control.tend(utcnow())  # the test has hours to run: nothing is judged yet
    assert db.session.get(Campaign, campaign.id).winner is None
    later = utcnow() + timedelta(hours=4, minutes=1)
    control.tend(later)
    judged = db.session.get(Campaign, campaign.id)
    assert judged.winner == "B" and judged.rest_sent_at is not None
    assert drain(lambda: db.session.get(Campaign, campaign.id).planned_at is not None)
    rest = {m.contact_id: m for m in _messages(campaign.id)}
    waiting = {c for c, v, _ in rows if v == REST}
    assert waiting <= set(rest) and all(rest[c].content["body"]["offer"] == "20% off" for c in waiting)
    assert len(_messages(campaign.id)) == 400
    with pytest.raises(control.CampaignStateError):
        control.send_rest(campaign.id, "A")  # once only
    figures = json.loads(run("campaigns", "report", "--campaign", str(campaign.id), "--json").output)
    assert [g["variant"] for g in figures["groups"]] == ["A", "B", "rest (B)"]


def test_a_test_without_a_winner_waits_for_the_merchant(ctx, run):
    shop = _shop()
    _contacts(shop, 100)
    variants = [{"name": "A", "weight": 50}, {"name": "B", "weight": 50, "variables": {"offer": "20% off"}}]
    campaign = _create(shop, variants=variants, test_percent=20, winner_after_hours=1)
    control.start(campaign.id)
    planner.plan(campaign.id)
    control.tend(utcnow() + timedelta(hours=2))
    judged = db.session.get(Campaign, campaign.id)
    assert judged.winner == "" and judged.rest_sent_at is None
    assert run("campaigns", "send-rest", "--campaign", str(campaign.id)).exit_code == 2  # no winner to send
    assert run("campaigns", "send-rest", "--campaign", str(campaign.id), "--variant", "C").exit_code == 2
    result = run("campaigns", "send-rest", "--campaign", str(campaign.id), "--variant", "A")
    assert result.exit_code == 0, result.output
    planner.plan_any(campaign.id)
    assert len(_messages(campaign.id)) == 100
