"""validate(): every rule, for one task payload, as a list of RuleErrors."""

from __future__ import annotations

from typing import Any

from .attributes import Attribute, check_attributes, linked_attribute_ids
from .geometries import check_geometries, check_point_connections
from .labels import Leaves, check_label_list, count_labels
from .limits import (
    ALLOWED_FIELDS,
    ATTACHMENT_TYPES,
    FIELD_ORDER,
    LEGACY_FIELDS,
    MAX_LABELS,
    MAX_TAGS,
    MAX_UNIQUE_ID_LENGTH,
    OPAQUE_FIELDS,
    PRIORITIES,
    PROJECT_DEFINABLE,
    REQUIRED_FIELDS,
    SEGMENTATION,
    TASK_TYPES,
    VIDEO,
    VIDEO_TYPES,
)
from .links import check_events, check_links
from .metadata import check_metadata
from .prelabels import check_base_annotations, check_hypothesis
from .report import ARRAY_TYPES, Report, describe, index_path, is_blank, key_path, quote, without_nulls
from .rules import RuleError
from .urls import check_url, check_video_format, is_email, is_http_url


def validate(task_type: str, payload: object) -> list[RuleError]:
    """Every finding for `payload` as a `task_type` task, errors and warnings alike.

    Each RuleError has a `severity`: "error" means Scale refuses the task (documented or
    observed), "warning" means we think it is a mistake but Scale may well accept it, so it
    is shown and never blocks. `errors(validate(...))` is what must block a submit.
    `null` values count as not set. Never raises: any value (wrong types anywhere, None,
    deep nesting) gives findings, not exceptions.
    """
    report = Report()
    if not isinstance(task_type, str) or task_type not in TASK_TYPES:
        report.add(
            "",
            "task_type.unknown",
            f"unknown task type {describe(task_type)}; expected one of {', '.join(TASK_TYPES)}",
        )
        return report.errors
    if not isinstance(payload, dict):
        report.add("", "payload.not_object", f"the task parameters must be a JSON object, got {describe(payload)}")
        return report.errors
    original = payload
    payload = without_nulls(payload, keep=OPAQUE_FIELDS)
    assert isinstance(payload, dict)
    if isinstance(payload.get("attachment"), str) and is_blank(payload["attachment"]):
        # Scale answers "Please include an attachment or attachments parameter." (errors
        # page): an empty cell or form field is no attachment. Judged on a copy: without_nulls
        # hands back the caller's own dict when there is no null, and validate() never changes
        # what it is given (the composer sends the payload it validated; found by a property test).
        payload = {key: value for key, value in payload.items() if key != "attachment"}

    _check_known_and_required(report, task_type, payload, original)
    _check_shared(report, payload)
    _check_attachments(report, task_type, payload)

    leaves = Leaves(report)
    if task_type == SEGMENTATION:
        # Without labels the project's params supply them: references cannot be checked.
        leaves.open = "labels" not in payload
        _check_segmentation(report, payload, leaves)
    elif "geometries" in payload:
        check_geometries(report, payload["geometries"], "geometries", leaves)
    else:
        leaves.open = True
    if task_type in VIDEO_TYPES and isinstance(payload.get("events_to_annotate"), ARRAY_TYPES):
        # A (global) attribute's label_condition may name event labels (ref §0b).
        leaves.events = {event for event in payload["events_to_annotate"] if isinstance(event, str)}

    attributes: dict[str, Attribute] = {}
    if "annotation_attributes" in payload:
        attributes = check_attributes(
            report, payload["annotation_attributes"], "annotation_attributes", leaves, task_type
        )
    if task_type in VIDEO_TYPES:
        check_point_connections(report, payload.get("geometries"), "geometries", linked_attribute_ids(attributes))
        _check_video(report, task_type, payload, leaves)
        check_base_annotations(report, payload)
    if "hypothesis" in payload:
        check_hypothesis(report, payload["hypothesis"], task_type, leaves)
    return report.errors


def _check_known_and_required(
    report: Report, task_type: str, payload: dict[Any, Any], original: dict[Any, Any]
) -> None:
    allowed = ALLOWED_FIELDS[task_type] | LEGACY_FIELDS[task_type]
    for key in payload:
        if key in allowed:
            continue
        name = key if isinstance(key, str) else describe(key)
        accepted_by = [other for other in TASK_TYPES if key in ALLOWED_FIELDS[other]]
        hint = f" (only {' and '.join(accepted_by)} accept it)" if accepted_by else ""
        report.add(
            key_path("", key),
            "param.unknown",
            f"'{name}' is not a documented parameter of {task_type}{hint}; it is sent as it is",
        )
    project = next(
        (payload[key] for key in ("project", "batch") if isinstance(payload.get(key), str) and payload[key].strip()),
        None,
    )
    for field in FIELD_ORDER:
        if field not in REQUIRED_FIELDS[task_type] or field in payload:
            continue
        null = ""
        if field in original:
            null = " (null means not set)" if original[field] is None else " (a blank value is no value)"
        if field in PROJECT_DEFINABLE and project is not None:
            # Project params fill what a task omits (SDK update_project docstring, ref §0b).
            report.add(
                field,
                "param.project_defined",
                f"is not set{null}: Scale takes it from the params of project {quote(project)}, which must define it",
            )
        else:
            report.add(field, "param.required", f"is required for {task_type}{null}")


def _check_shared(report: Report, payload: dict[Any, Any]) -> None:
    for field in ("project", "batch"):
        if field in payload:
            report.string(payload[field], field, non_empty=True)
    if "instruction" in payload:
        report.string(payload["instruction"], "instruction")
    if "callback_url" in payload:
        url = payload["callback_url"]
        if report.string(url, "callback_url") and not (is_http_url(url) or is_email(url)):
            report.add(
                "callback_url",
                "callback_url.invalid",
                f"must be a full http:// or https:// URL or an email address, got {quote(url)}",
            )
    if "metadata" in payload:
        check_metadata(report, payload["metadata"])
    if "unique_id" in payload:
        unique_id = payload["unique_id"]
        if report.string(unique_id, "unique_id", non_empty=True) and len(unique_id) > MAX_UNIQUE_ID_LENGTH:
            report.add(
                "unique_id",
                "unique_id.too_long",
                f"must be at most {MAX_UNIQUE_ID_LENGTH:,} characters (got {len(unique_id):,})",
            )
    if "clear_unique_id_on_error" in payload:
        report.boolean(payload["clear_unique_id_on_error"], "clear_unique_id_on_error")
    if "tags" in payload:
        _check_tags(report, payload["tags"])
    if "priority" in payload:
        priority = payload["priority"]
        if report.integer(priority, "priority") and priority not in PRIORITIES:
            report.add("priority", "priority.invalid", f"must be 10, 20 or 30, got {describe(priority)}")


def _check_tags(report: Report, tags: Any) -> None:
    if not report.array(tags, "tags", hint=" of strings"):
        return
    if len(tags) > MAX_TAGS:
        report.add("tags", "tags.max_count", f"at most {MAX_TAGS} tags are allowed (got {len(tags)})")
    for i, tag in enumerate(tags):
        report.string(tag, index_path("tags", i), non_empty=True)


def _check_attachments(report: Report, task_type: str, payload: dict[Any, Any]) -> None:
    allowed_types = ATTACHMENT_TYPES[task_type]
    declared = None
    if "attachment_type" in payload:
        value = payload["attachment_type"]
        if isinstance(value, str) and value in allowed_types:
            declared = value
        else:
            expected = " or ".join(f"'{kind}'" for kind in allowed_types)
            report.add(
                "attachment_type",
                "attachment_type.invalid",
                f"must be {expected} for {task_type}, got {describe(value)}",
            )
    attachment_ok = "attachment" in payload and check_url(report, payload["attachment"], "attachment")
    if task_type == SEGMENTATION:
        return

    has_attachment = "attachment" in payload
    has_attachments = "attachments" in payload
    if has_attachments:
        _check_frame_urls(report, payload["attachments"])
    # [UNCONFIRMED] Scale's default attachment_type for the video types is not documented,
    # so an omitted one is inferred from what is sent (build_payload always writes it).
    kind = declared or ("image" if has_attachments else "video" if has_attachment else None)
    if kind is None:
        report.add(
            "",
            "attachment.missing",
            f"{task_type} needs attachment (a video URL) or attachments (image frame URLs)",
        )
    elif kind == "image":
        if not has_attachments:
            report.add(
                "attachments",
                "attachment.missing",
                "is required when attachment_type is 'image' (the frame URLs to annotate)",
            )
        if task_type == VIDEO and has_attachment:
            # §1.3 says attachment + attachments together is "[V2 only]", i.e. playback.
            report.add(
                "attachment",
                "attachment.forbidden",
                "must be omitted when attachment_type is 'image': videoannotation takes "
                "attachments (frames) or attachment (a video), not both; only "
                "videoplaybackannotation accepts both",
            )
    else:
        if not has_attachment:
            report.add(
                "attachment",
                "attachment.missing",
                "is required when attachment_type is 'video' (the video file URL)",
            )
        if task_type == VIDEO and has_attachments:
            report.add("attachments", "attachments.forbidden", "must be omitted when attachment_type is 'video'")
    # For both video types `attachment` is always the video (for playback with image frames
    # it is the reference video), so its format is checked whatever attachment_type says.
    if attachment_ok:
        check_video_format(report, payload["attachment"], "attachment")


def _check_frame_urls(report: Report, attachments: Any) -> None:
    if not report.array(attachments, "attachments", hint=" of frame URLs"):
        return
    if not attachments:
        report.add("attachments", "attachments.empty", "must list at least one frame URL")
    for i, url in enumerate(attachments):
        check_url(report, url, index_path("attachments", i))


def _check_segmentation(report: Report, payload: dict[Any, Any], leaves: Leaves) -> None:
    if "labels" in payload:
        labels = payload["labels"]
        if report.array(labels, "labels"):
            if not labels:
                report.add("labels", "labels.empty", "must list at least one label")
            count = count_labels(labels)
            if count > MAX_LABELS:
                report.add("labels", "labels.max_count", f"at most {MAX_LABELS} labels are allowed (got {count})")
            check_label_list(report, labels, "labels", leaves, allow_instance=True)
    if "instance_labels" in payload:
        _check_legacy_instance_labels(report, payload["instance_labels"], leaves)
    if "allow_unlabeled" in payload:
        report.boolean(payload["allow_unlabeled"], "allow_unlabeled")
    if "context_attachments" in payload:
        _check_context_attachments(report, payload["context_attachments"], payload.get("attachment"))


def _check_legacy_instance_labels(report: Report, names: Any, leaves: Leaves) -> None:
    """The 2019 API's separate `instance_labels: [...]` (a recorded create echoed it back,
    ref §1.1, §0b): those names are instance labels, whether or not `labels` lists them."""
    if not report.array(names, "instance_labels", hint=" of label names"):
        return
    for i, name in enumerate(names):
        if report.string(name, index_path("instance_labels", i), non_empty=True):
            leaves.mark_instance(name)


def _check_context_attachments(report: Report, context: Any, attachment: Any) -> None:
    if not report.array(context, "context_attachments"):
        return
    for i, item in enumerate(context):
        path = index_path("context_attachments", i)
        if not report.object(item, path, hint=' like {"attachment": "<url>"}'):
            continue
        report.unknown_keys(item, frozenset({"attachment"}), path, "a context attachment")
        url_path = key_path(path, "attachment")
        if "attachment" not in item:
            report.add(url_path, "field.required", "is required (a reference image URL)")
        elif check_url(report, item["attachment"], url_path) and item["attachment"] == attachment:
            report.add(
                url_path,
                "context_attachments.same_as_attachment",
                "must not reuse the task's own attachment URL",
            )


def _check_video(report: Report, task_type: str, payload: dict[Any, Any], leaves: Leaves) -> None:
    allowed = ALLOWED_FIELDS[task_type]
    if "events_to_annotate" in payload:
        check_events(report, payload["events_to_annotate"], "events_to_annotate")
    if "links" in payload:
        check_links(report, payload["links"], "links", leaves)
    for field in ("frame_rate", "annotation_frame_rate", "video_frame_rate"):
        if field in payload and field in allowed:
            value = payload[field]
            # Reference §1.3: the seed types playback frame_rate as an object; it is a number.
            if report.number(value, field, hint=" of frames per second") and value <= 0:
                report.add(field, "frame_rate.not_positive", f"must be greater than 0, got {describe(value)}")
    for field in ("start_time", "duration_time"):
        if field in payload:
            value = payload[field]
            # Reference §1.3: the seed types duration_time as an array of strings; it is seconds.
            if report.number(value, field, hint=" of seconds") and value < 0:
                report.add(field, "time.negative", f"must be at least 0, got {describe(value)}")
    for field in ("padding", "paddingX", "paddingY"):
        if field in payload:
            value = payload[field]
            if report.integer(value, field) and value < 0:
                report.add(field, "padding.negative", f"must be at least 0 pixels, got {describe(value)}")
