"""`connector demo` runs the whole story in a fresh process, on embedded defaults, and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STORY_TEMPLATES = ("optin_confirmation", "cart_reminder_1", "cart_reminder_2", "order_confirmation", "shipping_shipped",
                   "shipping_out_for_delivery", "shipping_delivered", "back_in_stock")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CONNECTOR_INSTANCE_PATH")}
    script = Path(sys.executable).parent / "connector"  # the installed console script, as `make demo` runs it
    command = [str(script), "demo"] if script.exists() else \
        [sys.executable, "-c", "import sys; from connector.cli import main; sys.argv = ['connector', 'demo']; main()"]
    return subprocess.run(command, cwd=tmp_path_factory.mktemp("demo"),
                          env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=90)


def test_14_16_demo_prints_its_story_without_alembic_lines(demo_run):
    assert demo_run.returncode == 0, demo_run.stdout[-3000:] + demo_run.stderr[-3000:]
    assert demo_run.stdout.startswith("[1] A demo shop"), demo_run.stdout[:500]
    assert "alembic" not in (demo_run.stdout + demo_run.stderr).lower()


def test_demo_tells_the_whole_story_and_prints_the_funnel(demo_run):
    done = demo_run
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    for template in STORY_TEMPLATES:  # each printed as it reached the sandbox
        assert f"template {template} (de)" in out, template
    assert out.count("WhatsApp to +4915123456789") == 9  # 8 templates and the opt-in's "you're subscribed"
    assert "granted (double_opt_in)" in out  # her YES, through the real inbound webhook
    assert "cart_reminder_discount: cancelled (converted)" in out  # the purchase stopped the sequence
    assert "application/pdf" in out
    funnel = out[out.index("automation           triggered"):]
    rows = {line.split()[0]: line.split()[1:] for line in funnel.splitlines()[1:] if line.strip()
            and not line.startswith("Done")}
    assert rows["abandoned_cart"][:6] == ["3", "2", "2", "2", "1", "1"] and rows["abandoned_cart"][6] == "57.20"
    assert rows["shipping_updates"][:2] == ["3", "3"] and rows["back_in_stock"][:2] == ["1", "1"]
