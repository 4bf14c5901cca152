from __future__ import annotations

import pytest

from tests.support import wait_until


@pytest.mark.django_db(transaction=True)
def test_a_job_round_trips_through_a_real_worker(celery_worker):
    from annotator.tasks import jobs

    result = jobs.ping.delay("hello")
    assert result.get(timeout=30) == "pong:hello"
    # The worker logs the job's result line just after it stores the result.
    wait_until(lambda: "annotator.ping" in celery_worker.log(), timeout=10, message="the job in the worker's log")


@pytest.mark.django_db(transaction=True)
def test_a_job_enqueued_in_a_rolled_back_transaction_never_runs(celery_worker):
    from django.db import transaction

    from annotator.tasks import jobs

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        jobs.ping.delay_on_commit("ghost")
        raise Rollback
    jobs.ping.delay("after").get(timeout=30)
    assert "pong:ghost" not in celery_worker.log()
    assert "ghost" not in celery_worker.log()
