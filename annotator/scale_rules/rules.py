"""The rule table: every check validate() makes, with where it comes from.

docs/scale-rules.md is generated from RULES (python -m annotator.scale_rules.doc), and a
test keeps the two in sync. Sources: "ref §N" is shared/reference/scale-api.md, SEED is the
user's seed doc (which the reference corrects in places), OURS is a dashboard guard that
Scale does not document.

Confidence follows the reference's markers: C (a Scale page or Scale code says so),
3P (third-party code), INF (inferred), UNCONFIRMED (a guess we may have to change), and
OURS (our own limit, not a claim about Scale).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuleError:
    path: str
    message: str
    code: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass(frozen=True)
class Rule:
    code: str
    description: str
    source: str
    confidence: str


RULES: list[Rule] = [
    # --- the payload as a whole
    Rule(
        "task_type.unknown",
        "The task type is one of segmentannotation, videoannotation, videoplaybackannotation.",
        "ref §1",
        "C",
    ),
    Rule("payload.not_object", "The request body is a JSON object.", "ref §1", "C"),
    Rule(
        "param.unknown",
        "Only the parameters documented for the task type are sent (e.g. no `padding` on "
        "segmentannotation, no `allow_unlabeled` on video types).",
        "ref §1.0-1.3",
        "INF",
    ),
    Rule(
        "param.required",
        "Required parameters are present: `attachment` and `labels` (segmentannotation), `geometries` (video types).",
        "ref §1.1-1.3",
        "C",
    ),
    Rule(
        "field.unknown",
        "Nested objects (geometries, LabelDescription, attributes, conditions, links, camera objects, "
        "labelMapping entries, context attachments) contain only documented keys.",
        "ref §2-4",
        "INF",
    ),
    Rule(
        "field.required",
        "Required keys of nested objects are present (e.g. LabelDescription `choice`, camera "
        "`fx`/`fy`/`cx`/`cy`, quaternion `w`/`x`/`y`/`z`, attribute `description`).",
        "ref §2.5, §3.1-3.4",
        "C",
    ),
    Rule("type.boolean", 'Boolean parameters are JSON booleans, not strings like "true" or numbers.', "ref §1-3", "C"),
    Rule("type.integer", "Integer parameters are integers (not booleans, not strings).", "ref §1-2", "C"),
    Rule(
        "type.number",
        "Number parameters are finite numbers (not booleans, strings, arrays or objects). SEED gives "
        "`duration_time` as an array and `frame_rate` as an object for videoplayback: wrong.",
        "ref §1.3 (SEED wrong)",
        "INF",
    ),
    Rule("type.string", "String parameters are strings.", "ref §1-3", "C"),
    Rule("type.object", "Object parameters are JSON objects.", "ref §1-4", "C"),
    Rule(
        "type.array",
        "Array parameters are JSON arrays. SEED gives videoplayback `events_to_annotate` as int32: wrong.",
        "ref §1.3 (SEED wrong)",
        "INF",
    ),
    Rule(
        "string.empty",
        "Names and ids are not blank: project, batch, unique_id, tags, events, attribute ids.",
        "ref §1.0",
        "INF",
    ),
    # --- attachments and URLs
    Rule(
        "attachment_type.invalid",
        "`attachment_type` is `image` for segmentannotation, `image` or `video` for the video types.",
        "ref §1.1, §1.2",
        "C",
    ),
    Rule(
        "attachment.missing",
        "Video types get their frames: `attachments` when attachment_type is `image`, `attachment` when "
        "it is `video`. Without attachment_type, at least one of the two. Omitted attachment_type is "
        "inferred from which one is given.",
        "ref §1.2, §1.3",
        "C (inference: UNCONFIRMED)",
    ),
    Rule(
        "attachments.forbidden",
        "videoannotation: `attachments` is omitted when attachment_type is `video`.",
        "ref §1.2",
        "C",
    ),
    Rule(
        "attachment.forbidden",
        "videoannotation takes `attachments` (image frames) or `attachment` (a video), not both; only "
        "videoplaybackannotation (V2) accepts both.",
        "ref §1.2, §1.3",
        "INF",
    ),
    Rule("attachments.empty", "`attachments` lists at least one frame URL.", "ref §1.2", "INF"),
    Rule(
        "url.invalid",
        "URLs (attachment, attachments, context attachments, hypothesis and base annotation files) are "
        "absolute http(s) URLs with a host.",
        "ref §1.1, §1.2, §4",
        "INF",
    ),
    Rule(
        "video.format",
        "A video `attachment` is an mp4, webm or ogg file, judged by the URL path's extension (query "
        "ignored). A URL without an extension is rejected because its format cannot be checked.",
        "ref §1.2, §1.3",
        "C (extensionless: OURS)",
    ),
    Rule("callback_url.invalid", "`callback_url` is a full http(s) URL or an email address.", "ref §1.0, §6", "C"),
    Rule(
        "context_attachments.same_as_attachment",
        "A context attachment does not reuse the task's own attachment URL.",
        "ref §1.1",
        "C",
    ),
    # --- shared parameters
    Rule(
        "priority.invalid",
        "`priority` is 10, 20 or 30. Accepted on segmentannotation too, where Scale does not list it.",
        "ref §1.0",
        "C (segmentation: UNCONFIRMED)",
    ),
    Rule("tags.max_count", "At most 5 tags.", "ref §1.0", "C"),
    Rule(
        "metadata.too_large",
        "`metadata` is at most 10 KB (10,240 bytes) as compact UTF-8 JSON.",
        "ref §1.0",
        "C (byte counting: INF)",
    ),
    Rule(
        "metadata.not_json",
        "`metadata` holds only JSON values (no NaN/Infinity, no non-JSON Python objects).",
        "ref §1.0",
        "INF",
    ),
    Rule("unique_id.too_long", "`unique_id` is at most 1,024 characters.", "OURS", "OURS"),
    # --- video timing and padding
    Rule(
        "padding.negative",
        "`padding`, `paddingX`, `paddingY` are integers >= 0 (video types only).",
        "ref §1.2",
        "C (>= 0: INF)",
    ),
    Rule(
        "frame_rate.not_positive",
        "`frame_rate` (and V2 `annotation_frame_rate`, `video_frame_rate`) is a number > 0.",
        "ref §1.2, §1.3",
        "INF",
    ),
    Rule(
        "time.negative",
        "`start_time` and `duration_time` are numbers >= 0 (seconds).",
        "ref §1.2, §1.3 (SEED wrong)",
        "INF",
    ),
    # --- labels (LabelDescription)
    Rule("labels.empty", "segmentannotation `labels` lists at least one label.", "ref §1.1", "INF"),
    Rule(
        "labels.max_count",
        "At most 50 labels, counted as top-level entries of `labels`.",
        "ref §1.1",
        "C (what counts: UNCONFIRMED)",
    ),
    Rule("labels.too_deep", "Label nesting is at most 32 levels deep.", "OURS (ref §3.1: no limit documented)", "OURS"),
    Rule("label.invalid", "A label is a string or a LabelDescription object.", "ref §3.1", "C"),
    Rule(
        "label.nested_array",
        'A label is never a nested array: SEED\'s `"labels": [["vehicle"], ...]` is wrong.',
        "ref §1.1 (SEED wrong)",
        "C",
    ),
    Rule("label.name_empty", "Label names (strings and `choice`) are not blank.", "ref §3.1", "INF"),
    Rule(
        "label.subchoices_empty",
        "`subchoices`, when given, lists at least one label (omit it for a leaf).",
        "ref §3.1",
        "INF",
    ),
    Rule(
        "label.duplicate",
        "Leaf label names are unique across the whole tree (for video, across all geometries); attribute"
        " choices are unique within the attribute.",
        "ref §3.1",
        "INF",
    ),
    Rule(
        "label.instance_label_not_allowed",
        "`instance_label` is only used on segmentannotation labels.",
        "ref §3.1",
        "C",
    ),
    # --- geometries
    Rule("geometries.empty", "`geometries` enables at least one geometry.", "ref §1.2", "INF"),
    Rule(
        "geometry.unknown_kind", "Geometry names are box, polygon, line, point, cuboid, ellipse.", "ref §1.2, §2", "C"
    ),
    Rule(
        "geometry.point_xy",
        '`point` has no `x`/`y` request fields: SEED\'s `"point": {"x": " ", "y": " "}` is an OpenAPI '
        "artefact (x/y are response fields).",
        "ref §2.4 (SEED wrong)",
        "C",
    ),
    Rule(
        "geometry.min_size",
        "`min_height` / `min_width` (box, cuboid) are integers >= 0 (default 0).",
        "ref §2.1, §2.5",
        "C",
    ),
    Rule(
        "geometry.min_vertices", "`min_vertices` (polygon, line) is an integer >= 1 (default 1).", "ref §2.2, §2.3", "C"
    ),
    Rule(
        "geometry.max_vertices",
        "`max_vertices` (polygon, line) is null (no maximum) or an integer >= min_vertices.",
        "ref §2.2, §2.3",
        "C",
    ),
    Rule(
        "box.integer_pixels_rotated",
        "`integer_pixels` cannot be combined with `can_rotate` (it does not work with rotated boxes).",
        "ref §2.1",
        "C",
    ),
    Rule(
        "point.pair",
        "A point connection is `{pair: [labelA, labelB], connection_attribute?}` with exactly two label names.",
        "ref §2.4",
        "C",
    ),
    Rule(
        "point.pair_label",
        "Connection labels are leaf labels of the point geometry's `objects_to_annotate`.",
        "ref §2.4",
        "INF",
    ),
    Rule(
        "point.connection_attribute",
        "`connection_attribute` names a `linked` attribute of `annotation_attributes`.",
        "ref §2.4",
        "C",
    ),
    Rule(
        "cuboid.scalefactor_conflict",
        "`camera_intrinsics` uses `scalefactor` or `scale_factor`, not both (both spellings appear in Scale's docs).",
        "ref §2.5",
        "UNCONFIRMED",
    ),
    Rule("cuboid.scalefactor_positive", "`scalefactor` is a number > 0 (2 = image is half size).", "ref §2.5", "INF"),
    Rule(
        "cuboid.camera_partial",
        "`camera_intrinsics`, `camera_rotation_quaternion` and `camera_height` are given together or not"
        " at all: a partial camera gives no perspective correction.",
        "ref §2.5",
        "INF (error rather than warning: OURS)",
    ),
    # --- annotation attributes and conditions
    Rule(
        "attribute.type",
        "Attribute `type` is one of category, number, angle, text, x_line, y_line, linked (default "
        "category). angle/text/x_line/y_line take only the common fields.",
        "ref §3.2",
        "C (fields of angle/text/x_line/y_line: UNCONFIRMED)",
    ),
    Rule(
        "attribute.choices",
        "A category attribute has a non-empty `choices` array of strings or LabelDescriptions: SEED's "
        '`"choices": "choices"` is wrong.',
        "ref §3.2 (SEED wrong)",
        "C",
    ),
    Rule("attribute.number_range", "A number attribute has `min` <= `max`.", "ref §3.2", "INF"),
    Rule("attribute.step", "A number attribute's `step` is > 0 (default 1).", "ref §3.2", "INF"),
    Rule("attribute.allowed_labels", "A linked attribute lists at least one `allowed_labels` entry.", "ref §3.2", "C"),
    Rule("attribute.allowed_label_unknown", "Linked `allowed_labels` are leaf labels of the task.", "ref §3.2", "C"),
    Rule(
        "attributes.no_instance_labels",
        "segmentannotation attributes apply only to instance annotations, so attributes need at least "
        "one `instance_label: true` label.",
        "ref §1.1, §3.2",
        "C",
    ),
    Rule("condition.empty", "`conditions` and each attribute condition object are not empty.", "ref §3.3", "INF"),
    Rule(
        "condition.label_condition_shape",
        '`label_condition` is an object `{"label": name or [names]}`: SEED\'s array form is wrong.',
        "ref §3.3 (SEED wrong)",
        "C",
    ),
    Rule(
        "condition.attribute_conditions_shape",
        "`attribute_conditions` is an array of objects (ORed; keys inside one object ANDed): SEED's "
        "object form is wrong.",
        "ref §3.3 (SEED wrong)",
        "C",
    ),
    Rule("condition.value", "A condition value is a string or a non-empty array of strings.", "ref §3.3", "C"),
    Rule("condition.unknown_label", "`label_condition` names leaf labels of the task.", "ref §3.3", "C"),
    Rule(
        "condition.unknown_attribute",
        "`attribute_conditions` names attributes defined in `annotation_attributes`.",
        "ref §3.3",
        "INF",
    ),
    Rule(
        "condition.self_reference", "An attribute's conditions do not refer to the attribute itself.", "ref §3.3", "INF"
    ),
    Rule(
        "condition.unknown_choice",
        "Conditions on a category attribute use values that are leaf choices of that attribute.",
        "ref §3.3",
        "INF",
    ),
    # --- links and events
    Rule(
        "link.shape",
        "Each `links` entry is a link definition object, or a one-element array holding one (the docs show both).",
        "ref §3.4",
        "UNCONFIRMED",
    ),
    Rule(
        "link.labels_empty", "`from_allowed_labels` / `to_allowed_labels` list at least one label.", "ref §3.4", "INF"
    ),
    Rule("link.unknown_label", "Link labels are leaf labels of the task.", "ref §3.4", "INF"),
    Rule("events.duplicate", "`events_to_annotate` names are unique.", "ref §3.5", "INF"),
    # --- prelabels
    Rule("base_annotations.annotations_missing", "`base_annotations` contains `annotations`.", "ref §1.2, §4.3", "C"),
    Rule(
        "base_annotations.annotations_shape",
        '`base_annotations.annotations` is an inline array or `{"url": ...}`.',
        "ref §4.3",
        "UNCONFIRMED",
    ),
    Rule(
        "base_annotations.flags_without_base",
        "The `can_*` base-annotation flags are only sent with `base_annotations` (they have no effect otherwise).",
        "ref §1.2",
        "INF (error rather than warning: OURS)",
    ),
    Rule(
        "hypothesis.required",
        "Mandatory hypothesis parts: segmentation `labelMapping` + `annotations.combined.indexedImage`; "
        "playback `annotations.url`; videoannotation `annotations`.",
        "ref §4.1, §4.3",
        "C (videoannotation: UNCONFIRMED)",
    ),
    Rule(
        "hypothesis.annotations_shape",
        'videoannotation `hypothesis.annotations` is `{"url": ...}` or an inline per-frame array.',
        "ref §4.3",
        "UNCONFIRMED",
    ),
    Rule("hypothesis.unknown_label", "`labelMapping` keys are leaf labels of the task.", "ref §4.1", "C"),
    Rule(
        "hypothesis.instance_shape",
        "Instance labels map to an array of `{index, color?}`; other labels map to one object.",
        "ref §4.1",
        "C",
    ),
    Rule("hypothesis.index", "`labelMapping` indexes are integers >= 1 (0 means unlabeled).", "ref §4.1, §5.3", "C"),
    Rule("hypothesis.duplicate_index", "`labelMapping` indexes are unique.", "ref §5.3", "C"),
]

RULES_BY_CODE: dict[str, Rule] = {rule.code: rule for rule in RULES}
