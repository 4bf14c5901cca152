"""Reviewing a completed task: accept or reject it, with a comment, as an audit at Scale.

A review is asked for on the task page (or for a selection in the table) and saved on the
Task first (`review_state` queued, the verdict, the comment, who, when); a thin job sends it
with POST task/{id}/audit. The database is the record of what must be sent, so a Scale
outage (retried with backoff) or a lost job (the periodic sweep) never loses a review, and
the review's number (`review_seq`) makes a second press of the same button ask nothing new.

What Scale says the review is comes from its answer, the audit callback it sends, and the
reconciler: the latest entry of the task object's `audits`, by its `audited_at`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from annotator.tasks import callbacks
from annotator.tasks.models import Task, TaskEvent

log = logging.getLogger(__name__)

# Scale documents no limit on an audit's comment; this keeps one row reasonable.
COMMENT_MAX_LENGTH = 5000
ON_ITS_WAY = "A review of this task is already on its way to Scale; nothing was asked twice."
ASKED_BEFORE = "This review was asked for already (the button pressed twice?); nothing was sent twice."


@dataclass(frozen=True)
class Asked:
    outcome: str  # queued | duplicate (a second press: nothing new) | refused (nothing saved)
    message: str

    @property
    def queued(self) -> bool:
        return self.outcome == "queued"


def ask(task: Task, user, *, accepted: bool, comment: str, seq: int) -> Asked:
    """Save a review to send; `seq` is the review number the form was shown with.

    One conditional UPDATE: two presses of the same button (or two tabs) carry the same
    `seq`, and only the first moves it on."""
    # NUL cannot be stored in a PostgreSQL text column (and means nothing in a comment).
    comment = comment.replace("\x00", "").strip()
    if not task.reviewable:
        return Asked("refused", f"Only a task completed at Scale can be reviewed; this one is {task.display_status}.")
    if len(comment) > COMMENT_MAX_LENGTH:
        return Asked(
            "refused",
            f"A comment can have at most {COMMENT_MAX_LENGTH:,} characters; this one has {len(comment):,}. "
            "Nothing was sent.",
        )
    now = timezone.now()
    verdict = "accepted" if accepted else "rejected"
    with transaction.atomic():
        updated = (
            Task.objects.filter(pk=task.pk, review_seq=seq)
            .exclude(review_state__in=[Task.ReviewState.QUEUED, Task.ReviewState.SENDING])
            .update(
                review_state=Task.ReviewState.QUEUED,
                review_accepted=accepted,
                review_comment=comment,
                review_by=user,
                review_requested_at=now,
                review_seq=F("review_seq") + 1,
                review_attempts=0,
                review_claimed_at=None,
                review_error="",
                updated_at=now,
            )
        )
        if not updated:
            current = Task.objects.filter(pk=task.pk).values_list("review_state", flat=True).first()
            if current in (Task.ReviewState.QUEUED, Task.ReviewState.SENDING):
                return Asked("duplicate", ON_ITS_WAY)
            return Asked("duplicate", ASKED_BEFORE)
        TaskEvent.objects.create(
            task=task,
            kind=TaskEvent.Kind.REVIEW,
            message=f"{verdict.capitalize()} by {user.get_username()}" + (f": “{comment}”" if comment else ""),
            data={"review": verdict, "comment": comment, "by": user.pk, "seq": seq + 1, "step": "asked"},
        )
        enqueue(task.pk, seq + 1)
    return Asked("queued", f"Review queued: {verdict}. A worker sends it to Scale; the page shows the answer.")


def enqueue(task_id: int, seq: int, countdown: float = 0.0) -> None:
    from annotator.tasks import jobs

    if countdown:
        jobs.review_at_scale.apply_async_on_commit(args=(task_id, seq), countdown=countdown)
    else:
        jobs.review_at_scale.delay_on_commit(task_id, seq)


def _claim(task_id: int, seq: int, now: datetime) -> bool:
    # A review stuck in "sending" past the claim timeout belonged to a worker that died.
    stale = now - timedelta(seconds=settings.SUBMIT_CLAIM_TIMEOUT)
    return bool(
        Task.objects.filter(pk=task_id, review_seq=seq)
        .filter(
            Q(review_state=Task.ReviewState.QUEUED)
            | Q(review_state=Task.ReviewState.SENDING, review_claimed_at__lt=stale)
        )
        .update(
            review_state=Task.ReviewState.SENDING,
            review_claimed_at=now,
            review_attempts=F("review_attempts") + 1,
            updated_at=now,
        )
    )


def send(task_id: int, seq: int) -> str:
    """The job's body: send review number `seq` of a task once; returns what happened, in words."""
    from annotator.scale_client import PermanentError, ScaleError, TemporaryError
    from annotator.submission.pipeline import client_for
    from annotator.submission.submitter import backoff

    now = timezone.now()
    if not _claim(task_id, seq, now):
        return "nothing to send"  # sent already, asked again since, or another worker has it
    task = Task.objects.select_related("workspace").get(pk=task_id)
    verdict = "accepted" if task.review_accepted else "rejected"
    try:
        client = client_for(task.workspace)
        if task.review_attempts > 1 and _at_scale_already(task, client.get_task(task.scale_task_id), seq):
            return "at Scale already"
        answer = client.audit_task(task.scale_task_id, bool(task.review_accepted), task.review_comment)
    except TemporaryError as e:
        if task.review_attempts >= settings.SUBMIT_MAX_ATTEMPTS:
            return _refused(task, seq, f"Scale could not be reached after {task.review_attempts} tries: {e}")
        delay = backoff(task.review_attempts, e.retry_after)
        with transaction.atomic():
            moved = Task.objects.filter(pk=task.pk, review_seq=seq, review_state=Task.ReviewState.SENDING).update(
                review_state=Task.ReviewState.QUEUED,
                review_claimed_at=None,
                review_error=f"Scale did not take it yet ({e}); trying again in {max(1, round(delay))} s.",
                updated_at=timezone.now(),
            )
            if moved:
                enqueue(task.pk, seq, countdown=delay)
        return f"retry in {delay:.1f} s: {e}"
    except (PermanentError, ScaleError) as e:
        return _refused(task, seq, f"Scale refused the review: {e}")
    with transaction.atomic():
        row = Task.objects.select_for_update().get(pk=task.pk)
        if row.review_seq != seq or row.review_state != Task.ReviewState.SENDING:
            return "superseded"  # the audit callback said it was done, or a newer review was asked for
        row.review_state = Task.ReviewState.SENT
        row.review_error = ""
        row.review_claimed_at = None
        audits = answer.get("audits") if isinstance(answer, dict) else None
        if not apply_audits(row, audits):
            # Scale's answer is not documented (the SDK ignores it): what we asked for is what Scale recorded.
            row.review_status = verdict
            row.reviewed_at = timezone.now()
        row.save()
        TaskEvent.objects.create(
            task=row,
            kind=TaskEvent.Kind.REVIEW,
            message=f"Review sent to Scale: {verdict}",
            data={"review": verdict, "seq": seq, "step": "sent", "attempts": row.review_attempts},
        )
    return f"sent: {verdict}"


def _at_scale_already(task: Task, scale_task: object, seq: int) -> bool:
    """Before a second try: did an earlier one reach Scale? Scale's audits are not
    idempotent (each POST adds one), and an earlier try may have been answered after
    its timeout or its worker may have died before recording the answer. Scale's task
    shows its audits; one that matches ours, made since it was asked for, settles it."""
    audits = scale_task.get("audits") if isinstance(scale_task, dict) else None
    with transaction.atomic():
        row = Task.objects.select_for_update().get(pk=task.pk)
        if row.review_seq != seq or row.review_state != Task.ReviewState.SENDING:
            return True  # settled meanwhile (a callback) or superseded: nothing to send either way
        apply_audits(row, audits)
        row.save()  # any audit news is kept even when ours is not among them
        if row.review_state != Task.ReviewState.SENT:
            return False
        verdict = "accepted" if row.review_accepted else "rejected"
        TaskEvent.objects.create(
            task=row,
            kind=TaskEvent.Kind.REVIEW,
            message=f"Scale had this review already ({verdict}): an earlier try reached it. Not sent again.",
            data={"review": verdict, "seq": seq, "step": "found", "attempts": row.review_attempts},
        )
    return True


def _refused(task: Task, seq: int, reason: str) -> str:
    with transaction.atomic():
        moved = Task.objects.filter(pk=task.pk, review_seq=seq, review_state=Task.ReviewState.SENDING).update(
            review_state=Task.ReviewState.FAILED, review_error=reason[:2000], review_claimed_at=None,
            updated_at=timezone.now(),
        )  # fmt: skip
        if moved:
            TaskEvent.objects.create(
                task=task, kind=TaskEvent.Kind.REVIEW, message=f"Review not sent. {reason}",
                data={"seq": seq, "step": "failed", "error": reason[:2000]},
            )  # fmt: skip
    return f"failed: {reason}"


def _moment(raw: object) -> datetime | None:
    if not isinstance(raw, str):
        return None
    moment = callbacks.parse_time(raw.strip()[:64])
    return None if moment is None or callbacks.too_far_ahead(moment) else moment


def latest_audit(audits: object) -> tuple[str, str, datetime | None] | None:
    """(result, comments, audited_at) of the newest audit in Scale's `audits` list, whatever
    its shape: entries that are not objects with a text `audit_result` are skipped."""
    if not isinstance(audits, list):
        return None
    best: tuple[str, str, datetime | None] | None = None
    for entry in audits[-1000:]:
        if not isinstance(entry, dict):
            continue
        result = entry.get("audit_result")
        if not isinstance(result, str) or not result.replace("\x00", "").strip():
            continue
        comments = entry.get("comments")
        comments = comments.replace("\x00", "") if isinstance(comments, str) else ""
        at = _moment(entry.get("audited_at"))
        candidate = (result.replace("\x00", "").strip()[:20], comments[:COMMENT_MAX_LENGTH], at)
        # Newest last in Scale's list; a dated entry older than the best so far does not win.
        if best is None or at is None or best[2] is None or at >= best[2]:
            best = candidate
    return best


def apply_audits(task: Task, audits: object) -> str | None:
    """Take Scale's latest audit onto the (locked, unsaved) task if it is news; returns the
    review it shows, or None when there was nothing newer."""
    latest = latest_audit(audits)
    if latest is None:
        return None
    result, comments, at = latest
    older = at is not None and task.reviewed_at is not None and at < task.reviewed_at
    if older or (at is not None and at == task.reviewed_at and result == task.review_status):
        return None
    if at is None and task.review_status:
        return None  # undated: only better than knowing nothing
    same = result == task.review_status and comments == task.review_comment
    # Scale already has the review being sent (its answer was lost, the callback was not):
    # it is done, and the job that would send it again stands down.
    done = (
        task.review_in_flight
        and task.review_requested_at is not None
        and (at is None or at >= task.review_requested_at - timedelta(seconds=5))
        and result == ("accepted" if task.review_accepted else "rejected")
    )
    task.review_status = result
    task.reviewed_at = at or timezone.now()
    if not task.review_in_flight or done:
        # While a review is on its way, the comment field holds the one to send.
        task.review_comment = comments
    if done:
        task.review_state = Task.ReviewState.SENT
        task.review_error = ""
        task.review_claimed_at = None
    return None if same else result


def sweep(now: datetime | None = None, limit: int = 500) -> int:
    """Reviews whose job was lost (Redis down when they were asked for, a worker killed)
    get their job again."""
    now = now or timezone.now()
    quiet = now - timedelta(seconds=settings.SUBMIT_SWEEP_AFTER)
    stale = now - timedelta(seconds=settings.SUBMIT_CLAIM_TIMEOUT)
    rows = list(
        Task.objects.filter(
            Q(review_state=Task.ReviewState.QUEUED, updated_at__lt=quiet)
            | Q(review_state=Task.ReviewState.SENDING, review_claimed_at__lt=stale)
        ).values_list("id", "review_seq")[:limit]
    )
    for task_id, seq in rows:
        from annotator.tasks import jobs

        try:
            jobs.review_at_scale.delay(task_id, seq)
        except Exception:  # the broker is still away: the next sweep tries again
            log.warning("could not re-queue the review of task %s", task_id, exc_info=True)
            break
    return len(rows)
