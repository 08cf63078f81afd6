"""Campaign benchmark: segment preview, planning a 1,000,000-recipient campaign, sending 100,000.

On PostgreSQL (a scratch database ``bench_campaign``, or BENCH_DATABASE_URL), in this process:

1. seeds a shop with ``--contacts`` (1,000,000) contacts with marketing consent — seven
   languages, eight countries, their time zones — plus 100,000 without consent, and
   ``--orders`` (1,500,000) orders spread over them and two years (SQL ``generate_series``;
   not timed), then ANALYZE;
2. ``preview_s``: the slowest of four segment previews (``connector.campaigns.segments.count``:
   everyone; country + orders; spend + recency; language + opt-in age), each timed once, cold;
3. ``plan_s``: a campaign to the whole segment with two variants and a 10 % holdout, started
   and planned by the planner's own code (``connector.campaigns.planner.plan``, what the job
   runs): recipients and outbox rows written; ``plan_rss_mb`` is this process's peak resident
   memory (ru_maxrss) after it; then ``pause_s``, ``resume_s``, ``cancel_s`` on it;
4. sending: a second shop whose number allows 1,000 msg/s and a tier of ``--send`` (100,000)
   recipients per 24 h; a campaign to its ``--send`` contacts planned, then its dispatcher
   (``dispatch_shop``, what the send job runs) sends against the sandbox Cloud API (its own
   process, 1,000 msg/s enforced, ``--latency-ms`` 100 per call). ``achieved_ratio`` is the
   arrivals per second, first to last, over 1,000; ``max_1s_window`` the most arrivals in any
   sliding second; ``tier_ok`` that no more recipients than the tier allows were sent.

Goals (issue 18): preview_s ≤ 2, plan_s ≤ 120 with plan_rss_mb ≤ 400, achieved_ratio ≥ 0.95,
max_1s_window ≤ 1000. The last line of stdout is one JSON object.

    python bench/campaign.py [--contacts 1000000] [--orders 1500000] [--send 100000]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _support import database_url  # noqa: E402
from send_throughput import max_in_window, start_sandbox  # noqa: E402

LANGUAGES = ["de", "en", "fr", "es", "it", "nl", "pt-BR"]
COUNTRIES = ["DE", "AT", "FR", "ES", "IT", "NL", "BR", "US"]
ZONES = ["Europe/Berlin", "Europe/Vienna", "Europe/Paris", "Europe/Madrid", "Europe/Rome", "Europe/Amsterdam",
         "America/Sao_Paulo", "America/New_York"]
SEGMENTS = {
    "everyone": {},
    "country_orders": {"country": ["DE", "AT"], "orders_min": 2},
    "spend_recency": {"spent_min": "100", "last_order_within_days": 90},
    "language_optin": {"locale": ["fr", "es"], "opted_in_within_days": 180},
}


def seed_contacts(shop_id: int, count: int, *, consent: str, offset: int) -> None:
    from connector.extensions import db

    db.session.execute(db.text(f"""
        INSERT INTO contacts (shop_id, phone_e164, name, locale, country, time_zone, marketing_consent,
                              marketing_consent_at, marketing_consent_source, transactional_consent,
                              created_at, updated_at)
        SELECT :shop, '+4915' || lpad((:offset + i)::text, 9, '0'), 'Kim ' || i,
               (ARRAY{LANGUAGES!r})[1 + i % 7], (ARRAY{COUNTRIES!r})[1 + i % 8], (ARRAY{ZONES!r})[1 + i % 8],
               :consent, now() - (i % 700) * interval '1 day', 'popup', 'granted', now(), now()
        FROM generate_series(1, :count) AS i""".replace('"', "'")),
        {"shop": shop_id, "count": count, "consent": consent, "offset": offset})
    db.session.commit()


def seed_orders(shop_id: int, count: int, contacts: int) -> None:
    from connector.extensions import db

    first = db.session.scalar(db.text("SELECT min(id) FROM contacts WHERE shop_id = :shop"), {"shop": shop_id})
    db.session.execute(db.text("""
        INSERT INTO orders (shop_id, contact_id, order_id, name, currency, total, placed_at, created_at, updated_at)
        SELECT :shop, :first + (i::bigint * 7919) % :contacts, 'o' || i, '#' || i, 'EUR', 10 + (i % 190),
               now() - (i % 730) * interval '1 day', now(), now()
        FROM generate_series(1, :count) AS i"""), {"shop": shop_id, "first": first, "contacts": contacts,
                                                   "count": count})
    db.session.commit()


def make_shop(domain: str, phone_number_id: str, *, throughput: int, limit: int | None):
    from connector.extensions import db
    from connector.models import Shop, WhatsAppAccount

    shop = Shop(platform="demo", domain=domain, name="Bench Coffee", time_zone="Europe/Berlin", locale="en",
                currency="EUR", settings={"governor": {"quiet_hours": {"enabled": False},
                                                       "frequency_caps": {"marketing": {"max_messages": 5,
                                                                                        "per_hours": 24}}}})
    db.session.add(shop)
    db.session.flush()
    db.session.add(WhatsAppAccount(shop_id=shop.id, phone_number_id=phone_number_id, access_token="bench-token",
                                   throughput_per_second=throughput, messaging_limit=limit))
    db.session.commit()
    return shop


def campaign_for(shop, **body):
    from connector.campaigns import control

    data = {"name": "Bench", "template": "campaign_announcement", "segment": {},
            "variables": {"offer": "the autumn blend is back"}, "link": f"https://{shop.domain}/autumn"}
    data.update(body)
    return control.create(shop, data)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=1_500_000)
    parser.add_argument("--send", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    args = parser.parse_args()

    from cryptography.fernet import Fernet

    from connector import embedded_redis
    from connector.app import create_app

    workdir = tempfile.mkdtemp(prefix="connector-bench-campaign-")
    redis_server = None if os.environ.get("REDIS_URL") else embedded_redis.start()
    redis_url = os.environ.get("REDIS_URL") or redis_server.url
    sandbox, sandbox_url = start_sandbox(args.latency_ms)
    url = database_url(workdir, "bench_campaign")
    if not url.startswith("postgresql"):
        raise SystemExit("bench/campaign.py needs PostgreSQL (BENCH_DATABASE_URL or a server on 127.0.0.1:5432)")
    os.environ["CONNECTOR_INSTANCE_PATH"] = workdir
    figures: dict = {"benchmark": "campaign", "contacts": args.contacts, "orders": args.orders}
    try:
        app = create_app({
            "CONNECTOR_ENV": "test", "DATABASE_URL": url, "REDIS_URL": redis_url,
            "WHATSAPP_API_BASE_URL": sandbox_url, "SECRET_KEY": "bench", "APP_URL": "http://127.0.0.1:8000",
            "ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "WHATSAPP_APP_SECRET": "bench", "WHATSAPP_VERIFY_TOKEN": "bench", "LOG_LEVEL": "WARNING"})
        with app.app_context():
            from flask_migrate import upgrade

            from connector.campaigns import control, planner, segments
            from connector.extensions import db, get_redis
            from connector.messaging.dispatcher import dispatch_shop
            from connector.models import Message, MessageStatus

            db.drop_all()
            with db.engine.begin() as connection:
                connection.execute(db.text("DROP TABLE IF EXISTS alembic_version"))
            upgrade()
            get_redis().flushdb()

            started = time.perf_counter()
            shop = make_shop("bench-campaign.example", "7000001", throughput=80, limit=None)
            seed_contacts(shop.id, args.contacts, consent="granted", offset=0)
            seed_contacts(shop.id, args.contacts // 10, consent="none", offset=args.contacts)
            seed_orders(shop.id, args.orders, args.contacts)
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
            figures["seed_s"] = round(time.perf_counter() - started, 1)
            print(f"seeded in {figures['seed_s']} s", file=sys.stderr, flush=True)

            previews = {}
            for name, segment in SEGMENTS.items():
                started = time.perf_counter()
                count = segments.count(shop.id, segments.parse(segment))
                previews[name] = {"count": count, "seconds": round(time.perf_counter() - started, 3)}
            figures["previews"] = previews
            figures["preview_s"] = max(p["seconds"] for p in previews.values())
            print(f"previews {previews}", file=sys.stderr, flush=True)

            variants = [{"name": "A", "weight": 50}, {"name": "B", "weight": 50, "variables": {"offer": "20% off"}}]
            campaign = campaign_for(shop, variants=variants, holdout_percent=10)
            rss_before = rss_mb()
            started = time.perf_counter()
            control.start(campaign.id)
            profile = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
            if profile:
                profile.enable()
            written = planner.plan(campaign.id)
            if profile:
                profile.disable()
                pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(45)
            figures["plan_s"] = round(time.perf_counter() - started, 1)
            figures["plan_rss_mb"] = round(rss_mb(), 1)
            figures["rss_before_plan_mb"] = round(rss_before, 1)
            figures["planned"] = written
            print(f"planned {written} in {figures['plan_s']} s, peak RSS {figures['plan_rss_mb']} MB",
                  file=sys.stderr, flush=True)
            # steering a planned 1,000,000-recipient campaign: each is one UPDATE of its outbox rows
            for action in ("pause", "resume", "cancel"):  # cancelled, its rows stay in the table for the send phase
                started = time.perf_counter()
                getattr(control, action)(campaign.id)
                figures[f"{action}_s"] = round(time.perf_counter() - started, 2)
            print(f"pause {figures['pause_s']} s, resume {figures['resume_s']} s, cancel {figures['cancel_s']} s",
                  file=sys.stderr, flush=True)

            send_shop = make_shop("bench-send.example", "7000002", throughput=1000, limit=args.send)
            seed_contacts(send_shop.id, args.send, consent="granted", offset=0)
            db.session.execute(db.text("ANALYZE contacts"))
            db.session.commit()
            send_campaign = campaign_for(send_shop)
            control.start(send_campaign.id)
            planner.plan(send_campaign.id)
            get_redis().flushdb()  # the wake-ups the planner queued: this process sends instead
            send_shop_id = send_shop.id
            db.session.remove()
            with httpx.Client(base_url=sandbox_url, timeout=60) as sandbox_control:
                sandbox_control.post("/_sandbox/reset")
                sandbox_control.post("/_sandbox/limits", json={"phone_number_id": "7000002",
                                                               "throughput_per_second": 1000})
                started = time.monotonic()
                send_profile = cProfile.Profile() if os.environ.get("BENCH_PROFILE_SEND") else None
                if send_profile:
                    send_profile.enable()
                report = dispatch_shop(send_shop_id, redis=get_redis(), lease_seconds=300, retry_base_seconds=1.0,
                                       time_budget=3600)
                if send_profile:
                    send_profile.disable()
                    pstats.Stats(send_profile, stream=sys.stderr).sort_stats("tottime").print_stats(30)
                figures["send_wall_s"] = round(time.monotonic() - started, 1)
                received = sorted(m["received_at"] for m in sandbox_control.get(
                    "/_sandbox/messages", params={"phone_number_id": "7000002"}).json())
                stats = sandbox_control.get("/_sandbox/stats").json()
            span = received[-1] - received[0] if len(received) > 1 else float("nan")
            sent_rows = db.session.scalar(db.select(db.func.count()).select_from(Message).where(
                Message.shop_id == send_shop_id, Message.status.in_([MessageStatus.SENT, MessageStatus.DELIVERED,
                                                                     MessageStatus.READ])))
            figures.update({
                "sent": report.sent, "received": len(received), "sent_rows": sent_rows,
                "achieved": round((len(received) - 1) / span, 1),
                "achieved_ratio": round((len(received) - 1) / span / 1000, 3),
                "max_1s_window": max_in_window(received), "rejected": sum(stats.get("rejected", {}).values()),
                "tier_limit": args.send, "tier_ok": sent_rows <= args.send,
            })
            db.engine.dispose()
    finally:
        sandbox.terminate()
        sandbox.wait(10)
        if redis_server is not None:
            redis_server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    figures["goals_met"] = {"preview": figures.get("preview_s", 99) <= 2, "plan": figures.get("plan_s", 999) <= 120,
                            "rss": figures.get("plan_rss_mb", 9999) <= 400,
                            "throughput": figures.get("achieved_ratio", 0) >= 0.95,
                            "never_above": figures.get("max_1s_window", 9999) <= 1000}
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
