"""A worker killed with SIGKILL in the middle of a batch, then restarted: every message is
sent exactly once. The sandbox counts what it received, by our outbox id."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from connector.extensions import db
from connector.models import Message, MessageStatus
from tests.factories import make_contact, make_shop, order_confirmation

pytestmark = pytest.mark.slow

COUNT = 120


def _start_worker(app_env: dict[str, str]) -> subprocess.Popen:
    connector = shutil.which("connector", path=os.path.dirname(sys.executable)) or "connector"
    env = {**os.environ, **app_env, "SWEEP_INTERVAL_SECONDS": "1", "DISPATCH_LOCK_SECONDS": "2",
           "SEND_LEASE_SECONDS": "3", "LOG_LEVEL": "WARNING"}
    # its own process group: the kill takes its forked scheduler too, as a machine crash would
    return subprocess.Popen([connector, "worker"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _settled() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Message).where(
        Message.status.in_([MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ])))


def test_sigkill_mid_batch_then_restart_sends_each_message_exactly_once(ctx, sandbox, app_env):
    shop = make_shop(throughput=25)  # slow enough that the kill lands mid-batch
    sandbox.inject(kind="latency", ms=40)
    ids = [order_confirmation(shop, make_contact(shop, f"+4915112{index:06d}"), key=f"order:{index}:confirmation")
           .message.id for index in range(COUNT)]

    first = _start_worker(app_env)
    try:
        assert sandbox.wait_for_messages(30, timeout=30), "the first worker never got going"
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        first.stderr.close()
    killed_at = len(sandbox.messages())
    assert 0 < killed_at < COUNT, "the kill must land in the middle of the batch"
    db.session.expire_all()
    in_flight = db.session.scalar(
        select(func.count()).select_from(Message).where(Message.status == MessageStatus.SENDING))

    time.sleep(3.5)  # the dead worker's lease and lock run out
    second = _start_worker(app_env)
    try:
        deadline = time.monotonic() + 60
        while _settled() < COUNT and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        second.terminate()
        second.wait(15)
        second.stderr.close()

    received = Counter(record["callback_data"] for record in sandbox.messages())
    duplicates = {key: n for key, n in received.items() if n > 1}
    assert not duplicates, f"sent more than once: {duplicates}"
    assert set(received) == {str(i) for i in ids}, f"{COUNT - len(received)} never sent"
    assert _settled() == COUNT
    # the scenario really had messages in doubt at the moment of the kill
    assert in_flight > 0
