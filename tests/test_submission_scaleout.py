"""Scale-out: two worker processes share the work through the broker and PostgreSQL."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from tests import test_submission_reliability as reliability
from tests.support import wait_until
from tests.test_submission_reliability import assert_exactly_once_at_the_sandbox, create_rows, submitting_worker

sandbox_ws = reliability.sandbox_ws  # the fixture, shared


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="runs in the PostgreSQL pass of `make test`: SQLite serialises writers, so it proves little",
)
@pytest.mark.django_db(transaction=True)
def test_two_workers_on_postgresql_submit_100_tasks_with_no_duplicates(sandbox_ws, users, live_server):
    assert connection.vendor == "postgresql"
    # Prefork processes, as separate machines would be: nothing shared but Redis and the database.
    workers = []
    for _ in range(2):
        worker = submitting_worker(live_server, concurrency=4)
        worker.args[worker.args.index("--pool") + 1] = "prefork"
        workers.append(worker.start())
    try:
        tasks = create_rows(sandbox_ws, users.alice, 100)
        # Every row is announced twice, as a redelivery or an overeager sweeper would.
        from annotator.submission import jobs

        for task in tasks:
            jobs.submit_to_scale.delay(task.id)
        wait_until(reliability.all_submitted(100), timeout=60, message="100 rows submitted")
    finally:
        for w in workers:
            w.stop()
    assert_exactly_once_at_the_sandbox(100)
    assert all(w.log().count("succeeded") > 0 for w in workers), "both workers took part"
