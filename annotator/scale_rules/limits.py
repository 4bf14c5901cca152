"""Scale's task types, their parameters and their documented limits.

Section numbers (§) refer to shared/reference/scale-api.md.
"""

from __future__ import annotations

SEGMENTATION = "segmentannotation"
VIDEO = "videoannotation"
VIDEO_PLAYBACK = "videoplaybackannotation"
TASK_TYPES: tuple[str, ...] = (SEGMENTATION, VIDEO, VIDEO_PLAYBACK)
VIDEO_TYPES: frozenset[str] = frozenset({VIDEO, VIDEO_PLAYBACK})

MAX_LABELS = 50  # §1.1 "At most 50 labels"
MAX_TAGS = 5  # §1.0 "At most 5 tags per task"
MAX_METADATA_BYTES = 10240  # §1.0 "Max 10 KB", read as 10 x 1024 bytes of encoded JSON
PRIORITIES: tuple[int, ...] = (10, 20, 30)  # §1.0
VIDEO_EXTENSIONS: tuple[str, ...] = ("mp4", "webm", "ogg")  # §1.2 "Only mp4, webm and ogg"
# Extensions that name a format Scale does not take for a video: refused. Any other
# extension (or none) cannot be judged from the URL, so it is only a warning.
NOT_VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {"mov", "qt", "avi", "mkv", "flv", "wmv", "mpg", "mpeg", "3gp", "m2ts", "mts", "gif"}
    | {"png", "jpg", "jpeg", "bmp", "webp", "tif", "tiff", "heic", "json", "txt", "zip"}
)
# URL schemes Scale fetches attachments from (ref §0b): the web, S3 and GCS with the
# customer's bucket policy, and Scale's own uploaded files.
STORAGE_SCHEMES: tuple[str, ...] = ("s3", "gs", "scaledata")
ATTACHMENT_SCHEMES: tuple[str, ...] = ("http", "https", *STORAGE_SCHEMES)
GEOMETRY_KINDS: tuple[str, ...] = ("box", "polygon", "line", "point", "cuboid", "ellipse")
# The Node SDK's list (§3.2). Only category, number and linked have documented fields;
# angle, text, x_line and y_line are accepted with the common fields only.
ATTRIBUTE_TYPES: tuple[str, ...] = (
    "category",
    "number",
    "angle",
    "text",
    "x_line",
    "y_line",
    "linked",
)
DEFAULT_ATTRIBUTE_TYPE = "category"  # §3.2 "default category if omitted"
DEFAULT_MIN_VERTICES = 1  # §2.2

# Our own guards, not Scale's: Scale documents neither, but the dashboard needs a bound.
MAX_UNIQUE_ID_LENGTH = 1024  # room for an S3 key used as unique_id (§7.2 uses one)
MAX_LABEL_DEPTH = 32  # "can nest to any depth" (§3.1); deeper input is surely a mistake

BASE_ANNOTATION_FLAGS: tuple[str, ...] = (
    "can_add_base_annotations",
    "can_edit_base_annotations",
    "can_edit_base_annotation_labels",
    "can_delete_base_annotations",
)

# Every known top-level parameter, in the order build_payload() writes them.
FIELD_ORDER: tuple[str, ...] = (
    "project",
    "batch",
    "instruction",
    "callback_url",
    "attachment_type",
    "attachment",
    "attachments",
    "context_attachments",
    "labels",
    "geometries",
    "annotation_attributes",
    "links",
    "events_to_annotate",
    "allow_unlabeled",
    "frame_rate",
    "annotation_frame_rate",
    "video_frame_rate",
    "start_time",
    "duration_time",
    "padding",
    "paddingX",
    "paddingY",
    "hypothesis",
    "base_annotations",
    *BASE_ANNOTATION_FLAGS,
    "priority",
    "metadata",
    "unique_id",
    "clear_unique_id_on_error",
    "tags",
)

_SHARED = frozenset(
    {
        "project",
        "batch",
        "instruction",
        "callback_url",
        "metadata",
        "unique_id",
        "clear_unique_id_on_error",
        "tags",
        # §1.0 lists priority with the shared params but "not listed for segmentannotation".
        # We accept it there too [UNCONFIRMED]: it orders tasks within a project, which is
        # not specific to a task type, and the reference puts it in the shared table.
        "priority",
        "attachment",
        "attachment_type",
        "annotation_attributes",
        "hypothesis",
    }
)
_VIDEO_ONLY = frozenset(
    {
        "attachments",
        "geometries",
        "events_to_annotate",  # §3.5 "Only for videoannotation and videoplaybackannotation"
        # §1.3: the seed's playback table has no links row, the Node SDK type does.
        "links",
        "frame_rate",
        "start_time",
        "duration_time",
        "padding",
        "paddingX",
        "paddingY",
        "base_annotations",
        *BASE_ANNOTATION_FLAGS,
    }
)

# Legacy parameters that production code still sends and Scale accepts (ref §0b):
# `urgency` (the 2019 API and the Ruby SDK), `with_labels` (echoed in playback params; the
# callback format gives labels "if with_labels is true"), and segmentation's separate
# `instance_labels` list (a 2019 recorded create echoed it back).
LEGACY_FIELDS: dict[str, frozenset[str]] = {
    SEGMENTATION: frozenset({"urgency", "instance_labels"}),
    VIDEO: frozenset({"urgency", "with_labels"}),
    VIDEO_PLAYBACK: frozenset({"urgency", "with_labels"}),
}

# The documented parameters (legacy ones are accepted too, without a warning, but have no
# place in the composer's forms).
ALLOWED_FIELDS: dict[str, frozenset[str]] = {
    SEGMENTATION: _SHARED | {"labels", "allow_unlabeled", "context_attachments"},
    VIDEO: _SHARED | _VIDEO_ONLY,
    # §1.3 "[V2 only] annotation_frame_rate replaces frame_rate ... video_frame_rate"
    VIDEO_PLAYBACK: _SHARED | _VIDEO_ONLY | {"annotation_frame_rate", "video_frame_rate"},
}

# What a project's params can supply when a task omits it (SDK update_project docstring:
# project-level params are set on future tasks "if they are not set in the task request").
PROJECT_DEFINABLE: frozenset[str] = frozenset({"labels", "geometries"})

# User data in Scale's own formats, judged as sent (null inside metadata is a value).
OPAQUE_FIELDS: frozenset[str] = frozenset({"metadata"})

# Unconditionally required. The attachment/attachments pair of the video types depends on
# attachment_type and is checked by its own rule (attachment.missing).
REQUIRED_FIELDS: dict[str, frozenset[str]] = {
    SEGMENTATION: frozenset({"attachment", "labels"}),
    VIDEO: frozenset({"geometries"}),
    VIDEO_PLAYBACK: frozenset({"geometries"}),
}

ATTACHMENT_TYPES: dict[str, tuple[str, ...]] = {
    SEGMENTATION: ("image",),  # §1.1 "Only image is supported"
    VIDEO: ("image", "video"),
    VIDEO_PLAYBACK: ("image", "video"),
}
