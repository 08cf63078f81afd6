"""Listings a script can read, empty listings that say so, long work with a progress bar on a
terminal and silence when piped (issue 14, points 15 and 17)."""

from __future__ import annotations

import json
import os
import pty
import select as poll
import subprocess
import sys
from pathlib import Path

from connector.extensions import db
from connector.models import TemplateApproval
from tests.factories import make_shop

ROOT = Path(__file__).resolve().parent.parent


def _run(ctx, *args: str):
    from connector.cli import cli

    return ctx.test_cli_runner().invoke(cli, list(args))


def test_14_17_shops_list_json(ctx):
    first = make_shop("one.myshopify.com", phone_number_id="1000001")
    make_shop("two.myshopify.com", phone_number_id="1000002")
    result = _run(ctx, "shops", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [row["domain"] for row in rows] == ["one.myshopify.com", "two.myshopify.com"]
    assert rows[0]["id"] == first.id and rows[0]["platform"] == "shopify" and rows[0]["active"] is True
    assert rows[0]["whatsapp_phone_number_id"] == "1000001" and rows[0]["store_problem"] is None


def test_14_17_templates_status_json(ctx):
    shop = make_shop()
    db.session.add(TemplateApproval(shop_id=shop.id, name="order_confirmation", language="de", version=2,
                                    category="UTILITY", status="APPROVED", meta_template_id="123"))
    db.session.commit()
    result = _run(ctx, "templates", "status", "--shop", str(shop.id), "--json")
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in result.output.splitlines()]
    assert row == {"name": "order_confirmation", "language": "de", "version": 2, "status": "APPROVED", "reason": None,
                   "category": "UTILITY", "meta_template_id": "123"}


def test_14_15_empty_listings_say_so(ctx):
    assert "no shops yet" in _run(ctx, "shops", "list").output
    assert _run(ctx, "shops", "list", "--json").output == ""  # a script reads nothing, not prose
    shop = make_shop()
    assert "no messages for this shop yet" in _run(ctx, "outbox", "--shop", str(shop.id)).output
    assert "no template submitted yet" in _run(ctx, "templates", "status", "--shop", str(shop.id)).output
    from tests.factories import make_contact

    make_contact(shop)
    said = _run(ctx, "contacts", "conversation", "--shop", str(shop.id), "--phone", "+4915112345678").output
    assert "no messages with this customer yet" in said


def _import(app_env, csv_path: Path, shop_id: int, *, terminal: bool) -> tuple[int, str, str]:
    env = {**os.environ, **app_env, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c",
               "import sys; from connector.cli import main; sys.argv = ['connector', *sys.argv[1:]]; main()",
               "contacts", "import", "--shop", str(shop_id), "--csv", str(csv_path), "--purpose", "transactional",
               "--consent-text", "Order updates on WhatsApp", "--evidence", "test"]
    if not terminal:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=follower, text=True)
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = poll.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    os.close(leader)
    with process.stdout:
        out = process.stdout.read()
    return process.wait(60), out, seen.decode(errors="replace")


def test_14_17_contacts_import_shows_progress_on_a_terminal_and_stays_quiet_when_piped(ctx, app_env, tmp_path):
    shop = make_shop()
    csv_path = tmp_path / "consents.csv"
    csv_path.write_text("phone,name\n" + "".join(f"+49151{index:08d},Kunde {index}\n" for index in range(40)))
    code, out, err = _import(app_env, csv_path, shop.id, terminal=True)
    assert code == 0, err
    assert "40 consent(s) imported" in out
    assert "contacts" in err and "40/40" in err  # click's bar with its position, on the terminal
    code, out, err = _import(app_env, csv_path, shop.id, terminal=False)
    assert code == 0 and "40 consent(s) imported" in out
    assert err == ""  # piped: not a character of progress
