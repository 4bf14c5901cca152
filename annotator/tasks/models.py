from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from annotator.accounts.models import Workspace


class TaskType(models.TextChoices):
    SEGMENTATION = "segmentannotation", "Segmentation"
    VIDEO = "videoannotation", "General video"
    VIDEO_PLAYBACK = "videoplaybackannotation", "Video playback"


class SubmissionGroup(models.Model):
    """Rows submitted together (a bulk upload): what the progress bar follows."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="groups")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    name = models.CharField(max_length=200)
    template_name = models.CharField(max_length=200, blank=True)
    # Hash of the uploaded file: the same file twice is recognised.
    source_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    total = models.PositiveIntegerField(default=0)
    scale_batch = models.CharField(max_length=200, blank=True)
    finalize_batch = models.BooleanField(default=False)
    batch_finalized_at = models.DateTimeField(null=True, blank=True)
    # False: the run's finished tasks are told in one summary email when the run
    # is done (annotator/submission/runs.py); True: one email per task, as usual.
    email_each = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


def attachment_name(url: str) -> str:
    """The file name at the end of an attachment URL ("street-1.png"), or "" when it has none."""
    from urllib.parse import unquote, urlsplit

    try:
        path = urlsplit(url or "").path
    except ValueError:
        return ""
    name = unquote(path.rstrip("/").rsplit("/", 1)[-1]) if path.strip("/") else ""
    # Control characters have no place in a title or an email subject.
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:120]


# The longest unique_id this dashboard stores (Scale documents no limit): longer ones are
# refused with a clear message in the composer and the bulk dry run, never a database error.
UNIQUE_ID_MAX_LENGTH = 255


class Task(models.Model):
    """One Scale annotation task: the payload we send and everything we learn back."""

    class State(models.TextChoices):
        # Our side: getting the task to Scale exactly once.
        QUEUED = "queued", "Queued"
        SUBMITTING = "submitting", "Submitting"
        SUBMITTED = "submitted", "Submitted"
        FAILED = "failed", "Failed"

    class ScaleStatus(models.TextChoices):
        # Scale's side, from the create response, callbacks and the reconciler.
        PENDING = "pending", "Pending"
        COMPLETED = "completed", "Completed"
        ERROR = "error", "Error"
        CANCELED = "canceled", "Canceled"

    class ReviewState(models.TextChoices):
        QUEUED = "queued", "Review queued"
        SENDING = "sending", "Sending the review"
        SENT = "sent", "Review sent"
        FAILED = "failed", "Review refused"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="tasks")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    group = models.ForeignKey(SubmissionGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")
    task_type = models.CharField(max_length=32, choices=TaskType.choices)
    # Exactly what is (or was) sent to Scale, unique_id included.
    payload = models.JSONField()
    # Stable across retries, so an ambiguous failure can never create a second task.
    unique_id = models.CharField(max_length=UNIQUE_ID_MAX_LENGTH)
    # A name for people (the table, the task page, emails); never sent to Scale.
    name = models.CharField(max_length=200, blank=True)
    # A failed or errored task sent again is a new task (a new unique_id at Scale), linked to the old.
    resubmission_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resubmissions"
    )

    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    scale_task_id = models.CharField(max_length=32, blank=True, db_index=True)
    scale_status = models.CharField(max_length=12, choices=ScaleStatus.choices, blank=True)
    scale_updated_at = models.DateTimeField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    callback_count = models.PositiveIntegerField(default=0)
    last_callback_at = models.DateTimeField(null=True, blank=True)
    callback_succeeded = models.BooleanField(null=True, blank=True)

    # Copied out of the payload for the status table's filters and search.
    project = models.CharField(max_length=200, blank=True)
    batch = models.CharField(max_length=200, blank=True)
    tags = models.JSONField(default=list, blank=True)
    attachment = models.TextField(blank=True)

    # The review of a completed task: an audit at Scale (POST task/{id}/audit).
    # Our side, like `state` for the submission: asked for (queued), being sent,
    # sent, or refused by Scale (failed, `review_error` says why).
    review_state = models.CharField(max_length=8, choices=ReviewState.choices, blank=True)
    # What was asked for: accept (True) or reject (False), with the comment, by whom, when.
    review_accepted = models.BooleanField(null=True, blank=True)
    review_comment = models.TextField(blank=True)
    review_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_requested_at = models.DateTimeField(null=True, blank=True)
    # Bumped by each review asked for: a form carries the number it was shown with, so
    # pressing its button twice (or two tabs) asks once.
    review_seq = models.PositiveIntegerField(default=0)
    review_attempts = models.PositiveIntegerField(default=0)
    review_claimed_at = models.DateTimeField(null=True, blank=True)
    review_error = models.TextField(blank=True)
    # Scale's side: the latest audit's result (accepted, rejected, or Scale's own fixed /
    # commented) and its time, from the audit's answer, the audit callback or the reconciler.
    review_status = models.CharField(max_length=20, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "unique_id"], name="unique_id_per_workspace")]
        indexes = [
            # Keyset pagination of the status table, newest first, with and
            # without a status filter.
            models.Index(fields=["workspace", "-created_at", "-id"], name="task_ws_created"),
            models.Index(fields=["workspace", "scale_status", "-created_at", "-id"], name="task_ws_status_created"),
            models.Index(fields=["workspace", "state", "-created_at", "-id"], name="task_ws_state_created"),
            # The status table sorted by last change (keyset on updated_at, id).
            models.Index(fields=["workspace", "-updated_at", "-id"], name="task_ws_updated"),
            # The status table's counts per status (each a capped index range scan).
            models.Index(fields=["workspace", "state", "scale_status"], name="task_ws_state_status"),
            # The sweeper's scan for rows stuck before Scale.
            models.Index(fields=["state", "updated_at"], name="task_state_updated"),
            # The sweep's scan for reviews whose job was lost (only rows with a review in flight).
            models.Index(
                fields=["review_state", "updated_at"],
                name="task_review_in_flight",
                condition=models.Q(review_state__in=["queued", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_task_type_display()} {self.unique_id}"

    @property
    def display_status(self) -> str:
        """One word for people: our state until Scale has it, then Scale's status."""
        if self.state == self.State.SUBMITTED and self.scale_status:
            return self.scale_status
        return self.state

    @property
    def display_name(self) -> str:
        """What people call the task: the name someone gave it, else the attachment's
        file name, else the unique_id."""
        return self.name or attachment_name(self.attachment) or self.unique_id

    @property
    def reviewable(self) -> bool:
        """Scale audits completed tasks only (it answers 400 otherwise)."""
        return self.display_status == "completed" and bool(self.scale_task_id)

    @property
    def review_in_flight(self) -> bool:
        return self.review_state in (self.ReviewState.QUEUED, self.ReviewState.SENDING)

    @property
    def review_verdict(self) -> str:
        """The review asked for, as Scale words its result: "accepted", "rejected" or ""."""
        return "" if self.review_accepted is None else ("accepted" if self.review_accepted else "rejected")

    def fill_denormalized(self) -> None:
        payload = self.payload or {}
        self.project = str(payload.get("project") or "")[:200]
        self.batch = str(payload.get("batch") or "")[:200]
        tags = payload.get("tags") or []
        self.tags = [str(t) for t in tags] if isinstance(tags, list) else []
        attachment = payload.get("attachment")
        if not attachment and isinstance(payload.get("attachments"), list) and payload["attachments"]:
            attachment = payload["attachments"][0]
        self.attachment = str(attachment or "")


class SubmissionAttempt(models.Model):
    class Outcome(models.TextChoices):
        CREATED = "created", "Created"
        DUPLICATE = "duplicate", "Already at Scale (409 resolved)"
        TEMPORARY = "temporary", "Temporary error"
        PERMANENT = "permanent", "Permanent error"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="submission_attempts")
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.outcome} ({self.status_code}) at {self.started_at:%Y-%m-%d %H:%M:%S}"


class TaskEvent(models.Model):
    """The task page's timeline, and the audit trail of status changes."""

    class Kind(models.TextChoices):
        COMPOSED = "composed", "Composed"
        SUBMISSION = "submission", "Submission"
        CALLBACK = "callback", "Callback"
        STATUS = "status", "Status change"
        RECONCILED = "reconciled", "Reconciled"
        EMAIL = "email", "Email"
        REVIEW = "review", "Review"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    message = models.TextField(blank=True)
    data = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message[:60]}"


class CallbackEvent(models.Model):
    """A callback as it arrived, stored before it is applied."""

    # Every index is paid for by each callback's INSERT, the receiver's hot path,
    # so there are only the indexes a query uses (see Meta): the workspace is the
    # unique constraint's prefix, and no query looks events up by Scale's id (the
    # task page follows `task`, which the job sets once it has found the task).
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="callback_events", db_index=False)
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="callback_events", db_index=False
    )
    scale_task_id = models.CharField(max_length=32)
    status = models.CharField(max_length=12, blank=True)
    scale_updated_at = models.DateTimeField(null=True, blank=True)
    body = models.TextField()
    # Scale retries send the same body again: the hash is the duplicate guard.
    body_sha256 = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "body_sha256"], name="callback_once_per_body")]
        indexes = [
            # Partial indexes: a new event enters the second only, and moves to
            # the first when the job applies it (off the hot path).
            models.Index(fields=["task"], name="callback_task", condition=models.Q(task__isnull=False)),
            # The drain job's and the sweeper's scan for events not applied yet:
            # it holds only the backlog, not every event ever received.
            models.Index(fields=["id"], name="callback_unprocessed", condition=models.Q(processed_at__isnull=True)),
        ]
        ordering = ["received_at", "id"]

    def __str__(self) -> str:
        return f"{self.scale_task_id} {self.status}"


class ResultFile(models.Model):
    """Our copy of one of Scale's result files: Scale's URLs expire, ours do not."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="result_files")
    # "indexedImage", "annotations", "attachment", ... (see annotator/tasks/results.py)
    name = models.CharField(max_length=100)
    source_url = models.TextField()
    # Relative to MEDIA_ROOT; empty when the copy failed (error says why).
    path = models.CharField(max_length=300, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "name"], name="one_result_file_per_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.task_id} {self.name}"


class Notification(models.Model):
    """One person to tell about one status change.

    The unique (user, event) pair is the once-only guard: however many times a
    callback arrives, a status change has one row per recipient and the email
    job claims that row before sending.
    """

    class Kind(models.TextChoices):
        EVERY = "every", "Immediately"
        DIGEST = "digest", "In a digest"
        RUN = "run", "In the bulk run's summary"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="task_notifications")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="notifications")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="notifications")
    event = models.ForeignKey(TaskEvent, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "event"], name="one_notification_per_change")]
        indexes = [models.Index(fields=["kind", "sent_at", "created_at"], name="notification_pending")]

    def __str__(self) -> str:
        return f"{self.user} about {self.task_id}: {self.status}"
