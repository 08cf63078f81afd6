"""The wake-ups name their jobs by dotted path; each name must lead to the job that runs."""

from __future__ import annotations

import importlib

import pytest

from connector import wakeups
from connector.jobs.catchup import catch_up_woocommerce_store
from connector.jobs.ingest import drain_receipts
from connector.jobs.send import dispatch_outbox
from connector.jobs.sweep import sweep
from connector.stores import woocommerce_catchup as wc_catchup


def _resolve(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("name, job", [
    (wakeups.DRAIN_RECEIPTS, drain_receipts),
    (wakeups.DISPATCH_OUTBOX, dispatch_outbox),
    (wakeups.SWEEP, sweep),
    (wc_catchup.CATCHUP_JOB, catch_up_woocommerce_store),
])
def test_each_job_name_resolves_to_its_job(name, job):
    assert _resolve(name) is job


def test_every_name_the_wakeups_use_is_listed():
    assert set(wakeups.JOB_NAMES) == {wakeups.DRAIN_RECEIPTS, wakeups.DISPATCH_OUTBOX, wakeups.SWEEP}


def test_a_kick_queues_the_named_job_once(ctx):
    from connector.queues import SEND, get_queue

    wakeups.kick_dispatcher(41)
    wakeups.kick_dispatcher(41)  # the flag is set: no second job
    jobs = get_queue(SEND).get_jobs()
    assert [(job.func_name, job.args) for job in jobs] == [(wakeups.DISPATCH_OUTBOX, [41])]
