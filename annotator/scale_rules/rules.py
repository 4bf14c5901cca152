"""The rule table: every check validate() makes, where its knowledge comes from, and
whether breaking it is an error or a warning.

Never stricter than Scale: a rule is an *error* (Scale refuses the task, so we do not
send it) only when Scale's documentation or Scale's observed behaviour backs it. A rule
we inferred, or a guard of our own, is a *warning*: shown next to its field and in the
bulk dry run, never blocking a submit, and the payload is sent unchanged.

docs/scale-rules.md is generated from RULES (python -m annotator.scale_rules.doc), and a
test keeps the two in sync. "ref §N" is shared/reference/scale-api.md, which names the
Scale page behind each fact; SEED is the user's seed doc (wrong in places).
"""

from __future__ import annotations

from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"
SEVERITIES = (ERROR, WARNING)

# Where a rule's knowledge comes from. Only "docs" and "observed" may back an error.
DOCS = "docs"  # a Scale documentation page or Scale's own SDK code says so
OBSERVED = "observed"  # Scale was seen to answer this way (recorded responses, SDK tests)
INFERRED = "inferred"  # we read it between the lines: helpful, not documented
OURS = "ours"  # a dashboard guard, not a claim about Scale
BASES = (DOCS, OBSERVED, INFERRED, OURS)


@dataclass(frozen=True)
class RuleError:
    """One finding of validate(). `severity` is "error" (Scale refuses: do not send) or
    "warning" (shown, never blocking). The default keeps RuleError(path, message, code)
    working for callers written before warnings existed."""

    path: str
    message: str
    code: str
    severity: str = ERROR

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    @property
    def is_warning(self) -> bool:
        return self.severity == WARNING


@dataclass(frozen=True)
class Rule:
    code: str
    description: str
    source: str  # the Scale page (or our reason) behind the rule
    basis: str  # one of BASES
    severity: str  # one of SEVERITIES

    @property
    def confidence(self) -> str:
        """Older name of `basis`."""
        return self.basis


def _error(code: str, description: str, source: str, basis: str = DOCS) -> Rule:
    assert basis in (DOCS, OBSERVED), f"{code}: only documented or observed rules may be errors"
    return Rule(code, description, source, basis, ERROR)


def _warning(code: str, description: str, source: str, basis: str = INFERRED) -> Rule:
    return Rule(code, description, source, basis, WARNING)


# Scale pages, as the reference lists them (§11).
TASKS_PAGE = "scale.com/docs/api-reference/image-and-video-tasks"
SEGMENTATION_PAGE = "docs.scale.com/reference/semantic-segmentation-annotation"
PLAYBACK_PAGE = "docs.scale.com/reference/video-playback"
LABELS_PAGE = "docs.scale.com/reference/label-nesting"
ATTRIBUTES_PAGE = "scale.com/docs/api-reference/annotation-attributes"
CONDITIONS_PAGE = "docs.scale.com/reference/conditionality"
LINKS_PAGE = "docs.scale.com/reference/request-format (Links)"
ERRORS_PAGE = "scale.com/docs/api-reference/errors"
SEG_HYPOTHESIS_PAGE = "docs.scale.com/reference/image-segmentation-hypothesis"
PLAYBACK_HYPOTHESIS_PAGE = "docs.scale.com/reference/video-playback-annotation-hypothesis"


RULES: list[Rule] = [
    # --- the payload as a whole
    _error(
        "task_type.unknown",
        "The task type is one of segmentannotation, videoannotation, videoplaybackannotation.",
        f"{ERRORS_PAGE} (402 for a type the account lacks); ref §1",
    ),
    _error("payload.not_object", "The request body is a JSON object.", f"{TASKS_PAGE}; ref §1"),
    _warning(
        "param.unknown",
        "A parameter not documented for the task type. Scale has undocumented and legacy parameters "
        "that production pipelines rely on, so it is sent unchanged.",
        "ref §0b, §1.0-1.3",
    ),
    _error(
        "param.required",
        "Required parameters are present: `attachment` (segmentannotation), and `labels` "
        "(segmentannotation) or `geometries` (video types) when no project or batch could supply them. "
        "`null` counts as not set.",
        f"{TASKS_PAGE} (Required); {ERRORS_PAGE} (400 when a required param is missing); ref §1.1-1.3",
    ),
    _warning(
        "param.project_defined",
        "`labels` (segmentannotation) or `geometries` (video types) is omitted, and the task names a "
        "project or batch: Scale then takes it from the project's params, so the project must define it.",
        "SDK update_project docstring (project params fill what a task omits); ref §0b",
        DOCS,
    ),
    _warning(
        "field.unknown",
        "A key not documented for a nested object (geometry, LabelDescription, attribute, condition, link, "
        "camera object, labelMapping entry, context attachment). Sent unchanged.",
        "ref §2-4",
    ),
    _error(
        "field.required",
        "Documented required keys of nested objects are present: LabelDescription `choice`, camera "
        "`fx`/`fy`/`cx`/`cy`, quaternion `w`/`x`/`y`/`z`, a context attachment's `attachment`, a point "
        "connection's `pair`, a labelMapping entry's `index`, a label_condition's `label`.",
        f"{LABELS_PAGE}; docs.scale.com/reference/cuboids; {SEG_HYPOTHESIS_PAGE}; ref §2.4-2.5, §3.1-3.3, §4.1",
    ),
    _warning(
        "field.expected",
        "Keys we expect though no page marks them required: an attribute's `description`, a link's "
        "`from_allowed_labels` / `to_allowed_labels`.",
        "ref §3.2, §3.4",
    ),
    _error(
        "type.boolean",
        'Boolean parameters are JSON booleans, not strings like "true" or numbers.',
        f"{TASKS_PAGE} (parameter types); ref §1-3",
    ),
    _error(
        "type.integer",
        "Integer parameters are integers (not booleans, not strings); 10.0 counts as 10.",
        f"{TASKS_PAGE} (parameter types); ref §1-2",
    ),
    _error(
        "type.number",
        "Number parameters are finite numbers. SEED gives `duration_time` as an array and `frame_rate` as an "
        "object for videoplayback: the videoannotation table and Scale's Node SDK types say number.",
        f"{PLAYBACK_PAGE}; scaleapi-node VideoPlaybackAnnotationRequest.ts; ref §1.3 (SEED wrong)",
    ),
    _error("type.string", "String parameters are strings.", f"{TASKS_PAGE} (parameter types); ref §1-3"),
    _error("type.object", "Object parameters are JSON objects.", f"{TASKS_PAGE} (parameter types); ref §1-4"),
    _error(
        "type.array",
        "Array parameters are JSON arrays. SEED gives videoplayback `events_to_annotate` as int32: the events "
        "page and Scale's Node SDK types say array of strings.",
        "docs.scale.com/reference/events; scaleapi-node types; ref §1.3 (SEED wrong)",
    ),
    _warning(
        "string.empty",
        "Names and ids are not blank: project, batch, unique_id, tags, events, attribute ids.",
        "ref §1.0",
    ),
    # --- attachments and URLs
    _error(
        "attachment_type.invalid",
        "`attachment_type` is `image` for segmentannotation, `image` or `video` for the video types.",
        f"{SEGMENTATION_PAGE} (only image); {TASKS_PAGE}; ref §1.1, §1.2",
    ),
    _error(
        "attachment.missing",
        "Video types get their frames: `attachments` when attachment_type is `image`, `attachment` when "
        "it is `video`; without attachment_type, at least one of the two.",
        f'{TASKS_PAGE}; {ERRORS_PAGE} ("Please include an attachment or attachments parameter."); ref §1.2, §1.3',
    ),
    _error(
        "attachments.forbidden",
        "videoannotation: `attachments` is omitted when attachment_type is `video`.",
        f"{TASKS_PAGE} (attachments: must be omitted if video); ref §1.2",
    ),
    _warning(
        "attachment.forbidden",
        "videoannotation with both `attachments` (frames) and `attachment` (a video): the docs describe "
        "both together only for videoplaybackannotation (V2).",
        "ref §1.2, §1.3",
    ),
    _warning("attachments.empty", "`attachments` lists at least one frame URL.", "ref §1.2"),
    _warning(
        "url.invalid",
        "Attachment, frame, context attachment, hypothesis and base annotation file URLs use a scheme Scale "
        "reads: http(s)://host, s3://bucket, gs://bucket or scaledata://. Anything else Scale cannot fetch, "
        "and the task would end in `error`.",
        "scale.com/docs/aws-s3; scale.com/docs/google-cloud-storage; SDK README (upload_file); ref §0b",
    ),
    _error(
        "video.format",
        "A video `attachment` whose URL path ends in an extension is an mp4, webm or ogg file (query ignored).",
        f"{TASKS_PAGE} (only mp4, webm and ogg); {PLAYBACK_PAGE}; ref §1.2, §1.3",
    ),
    _warning(
        "video.format_unknown",
        "A video `attachment` without a file extension (a stream URL, `scaledata://...`): its format "
        "cannot be checked here. Scale's own playback hypothesis example sends one.",
        f"{PLAYBACK_HYPOTHESIS_PAGE}; ref §0b",
    ),
    _error(
        "callback_url.invalid",
        "`callback_url` is a full http(s) URL or an email address.",
        f"{TASKS_PAGE}; scale.com/docs/api-reference/callbacks; ref §1.0, §6",
    ),
    _error(
        "context_attachments.same_as_attachment",
        "A context attachment does not reuse the task's own attachment URL.",
        f"{SEGMENTATION_PAGE}; ref §1.1",
    ),
    # --- shared parameters
    _error(
        "priority.invalid",
        "`priority` is 10, 20 or 30 (also accepted on segmentannotation, where Scale does not list it).",
        f"{TASKS_PAGE}; ref §1.0",
    ),
    _error("tags.max_count", "At most 5 tags.", f"{TASKS_PAGE}; ref §1.0"),
    _error(
        "metadata.too_large",
        "`metadata` is at most 10 KB (10,240 bytes as compact UTF-8 JSON).",
        f"{TASKS_PAGE} (Max 10 KB); scale.com/docs/api-reference/tasks; ref §1.0",
    ),
    _error(
        "metadata.not_json",
        "`metadata` holds only JSON values: NaN, Infinity or Python objects cannot be sent as JSON at all.",
        "RFC 8259 (JSON has no NaN); ref §1.0",
    ),
    _warning("unique_id.too_long", "`unique_id` is at most 1,024 characters (our guard).", "OURS", OURS),
    # --- video timing and padding
    _warning("padding.negative", "`padding`, `paddingX`, `paddingY` are >= 0 pixels.", "ref §1.2"),
    _warning(
        "frame_rate.not_positive",
        "`frame_rate` (and V2 `annotation_frame_rate`, `video_frame_rate`) is > 0.",
        "ref §1.2, §1.3",
    ),
    _warning("time.negative", "`start_time` and `duration_time` are >= 0 seconds.", "ref §1.2, §1.3"),
    # --- labels (LabelDescription)
    _warning("labels.empty", "segmentannotation `labels` lists at least one label.", "ref §1.1"),
    _error(
        "labels.max_count",
        "At most 50 labels, counted as top-level entries of `labels` (what counts: unconfirmed).",
        f"{SEGMENTATION_PAGE} (at most 50 labels); ref §1.1",
    ),
    _warning(
        "labels.too_deep",
        "Label nesting deeper than 32 levels is not checked further (our guard; no limit is documented).",
        "OURS (ref §3.1: no limit documented)",
        OURS,
    ),
    _error("label.invalid", "A label is a string or a LabelDescription object.", f"{LABELS_PAGE}; ref §3.1"),
    _error(
        "label.nested_array",
        'A label is never a nested array: SEED\'s `"labels": [["vehicle"], ...]` is not a documented form.',
        f"{LABELS_PAGE}; ref §1.1 (SEED wrong)",
    ),
    _warning("label.name_empty", "Label names (strings and `choice`) are not blank.", "ref §3.1"),
    _warning(
        "label.subchoices_empty",
        "`subchoices`, when given, lists at least one label (omit it for a leaf).",
        "ref §3.1",
    ),
    _warning(
        "label.duplicate",
        "A leaf label appears twice in one label list (segmentation `labels`, one geometry's "
        "`objects_to_annotate`, one attribute's choices). The same label under two geometries is fine: "
        "Scale's own videoannotation example does it.",
        "ref §0b, §3.1",
    ),
    _warning(
        "label.instance_label_not_allowed",
        "`instance_label` is described for segmentannotation labels only; elsewhere it does nothing.",
        f"{LABELS_PAGE}; ref §3.1",
        DOCS,
    ),
    # --- geometries
    _warning("geometries.empty", "`geometries` enables at least one geometry.", "ref §1.2"),
    _error(
        "geometry.unknown_kind",
        "Geometry names are box, polygon, line, point, cuboid, ellipse.",
        f"{TASKS_PAGE}; docs.scale.com/reference/boxes (and siblings); ref §1.2, §2",
    ),
    _warning(
        "geometry.point_xy",
        '`point` has no `x`/`y` request fields: SEED\'s `"point": {"x": " ", "y": " "}` is an OpenAPI '
        "artefact (x/y are response fields).",
        "docs.scale.com/reference/points; ref §2.4 (SEED wrong)",
        DOCS,
    ),
    _warning("geometry.min_size", "`min_height` / `min_width` (box, cuboid) are >= 0 (default 0).", "ref §2.1, §2.5"),
    _warning("geometry.min_vertices", "`min_vertices` (polygon, line) is >= 1 (default 1).", "ref §2.2, §2.3"),
    _error(
        "geometry.max_vertices",
        "`max_vertices` (polygon, line) is null (no maximum) or an integer >= min_vertices.",
        "docs.scale.com/reference/polygons; docs.scale.com/reference/lines; ref §2.2, §2.3",
    ),
    _warning(
        "box.integer_pixels_rotated",
        "`integer_pixels` does not work with `can_rotate` (the docs say it has no effect, not that Scale refuses).",
        "docs.scale.com/reference/boxes; ref §2.1",
        DOCS,
    ),
    _error(
        "point.pair",
        "A point connection is `{pair: [labelA, labelB], connection_attribute?}` with exactly two label names.",
        "docs.scale.com/reference/points; ref §2.4",
    ),
    _warning(
        "point.pair_label",
        "Connection labels are leaf labels of the point geometry's `objects_to_annotate`.",
        "ref §2.4",
    ),
    _error(
        "point.connection_attribute",
        "`connection_attribute` names a `linked` attribute of `annotation_attributes`.",
        "docs.scale.com/reference/points; ref §2.4",
    ),
    _warning(
        "cuboid.scalefactor_conflict",
        "`camera_intrinsics` gives both `scalefactor` and `scale_factor` (Scale's docs use both spellings).",
        "ref §2.5",
    ),
    _warning("cuboid.scalefactor_positive", "`scalefactor` is > 0 (2 = image is half size).", "ref §2.5"),
    _warning(
        "cuboid.camera_partial",
        "`camera_intrinsics`, `camera_rotation_quaternion` and `camera_height` are given together: a partial "
        "camera gives no perspective correction.",
        "docs.scale.com/reference/cuboids; ref §2.5",
        DOCS,
    ),
    # --- annotation attributes and conditions
    _error(
        "attribute.type",
        "Attribute `type` is one of category, number, angle, text, x_line, y_line, linked (default category).",
        f"{ATTRIBUTES_PAGE}; scaleapi-node AnnotationAttribute.ts; ref §3.2",
    ),
    _error(
        "attribute.choices",
        "A category attribute has a non-empty `choices` array of strings or LabelDescriptions: SEED's "
        '`"choices": "choices"` is wrong.',
        f"{ATTRIBUTES_PAGE}; docs.scale.com/reference/categorical-attributes; ref §3.2 (SEED wrong)",
    ),
    _warning("attribute.number_range", "A number attribute has `min` <= `max`.", "ref §3.2"),
    _warning("attribute.step", "A number attribute's `step` is > 0 (default 1).", "ref §3.2"),
    _error(
        "attribute.allowed_labels",
        "A linked attribute lists at least one `allowed_labels` entry.",
        "docs.scale.com/reference/linked-attributes; ref §3.2",
    ),
    _warning(
        "attribute.allowed_label_unknown",
        "Linked `allowed_labels` are leaf labels of the task (not checked when the project defines the labels): "
        "another name can never be linked. The docs say what the values mean, not that Scale refuses others.",
        "docs.scale.com/reference/linked-attributes; ref §3.2",
        DOCS,
    ),
    _warning(
        "attributes.no_instance_labels",
        "segmentannotation attributes apply only to instance annotations: with no `instance_label: true` "
        "label, non-global attributes are never asked.",
        f"{SEGMENTATION_PAGE}; ref §1.1, §3.2",
        DOCS,
    ),
    _warning("condition.empty", "`conditions` and each attribute condition object are not empty.", "ref §3.3"),
    _error(
        "condition.label_condition_shape",
        '`label_condition` is an object `{"label": name or [names]}`: SEED\'s array form is wrong.',
        f"{CONDITIONS_PAGE}; ref §3.3 (SEED wrong)",
    ),
    _error(
        "condition.attribute_conditions_shape",
        "`attribute_conditions` is an array of objects: SEED's object form is wrong. (How the objects combine, "
        "OR of ANDs or all AND, is unconfirmed: two versions of the page disagree.)",
        f"{CONDITIONS_PAGE}; ref §0b, §3.3 (SEED wrong)",
    ),
    _error(
        "condition.value",
        "A condition value is a string or a non-empty array of strings.",
        f"{CONDITIONS_PAGE}; ref §3.3",
    ),
    _warning(
        "condition.unknown_label",
        "`label_condition` names leaf labels of the task (for video, event names too; not checked when the "
        "project defines the labels): a condition on another name never applies. Production taxonomies Scale "
        "runs contain such names (the corpus has one), so it is not a refusal.",
        f"{CONDITIONS_PAGE}; docs.scale.com/reference/global-track-attributes-video-tasks; ref §0b, §3.3",
        DOCS,
    ),
    _warning(
        "condition.unknown_attribute",
        "`attribute_conditions` names attributes defined in `annotation_attributes`.",
        "ref §3.3",
    ),
    _warning("condition.self_reference", "An attribute's conditions do not refer to the attribute itself.", "ref §3.3"),
    _warning(
        "condition.unknown_choice",
        "Conditions on a category attribute use values that are leaf choices of that attribute.",
        "ref §3.3",
    ),
    # --- links and events
    _warning(
        "link.shape",
        "Each `links` entry is a link definition object, or a one-element array holding one (the docs show both).",
        "ref §3.4",
    ),
    _warning("link.labels_empty", "`from_allowed_labels` / `to_allowed_labels` list at least one label.", "ref §3.4"),
    _warning("link.unknown_label", "Link labels are leaf labels of the task.", "ref §3.4"),
    _warning("events.duplicate", "`events_to_annotate` names are unique.", "ref §3.5"),
    # --- prelabels
    _error(
        "base_annotations.annotations_missing",
        "`base_annotations` contains `annotations`.",
        f"{TASKS_PAGE} (must contain the annotations field); ref §1.2, §4.3",
    ),
    _warning(
        "base_annotations.annotations_shape",
        '`base_annotations.annotations` is an inline array or `{"url": ...}` (which one Scale wants is unconfirmed).',
        "ref §4.3",
    ),
    _warning(
        "base_annotations.flags_without_base",
        "The `can_*` base-annotation flags have no effect without `base_annotations`.",
        "ref §1.2",
    ),
    _error(
        "hypothesis.required",
        "Mandatory hypothesis parts: segmentation `labelMapping` + `annotations.combined.indexedImage`; "
        "playback `annotations.url`.",
        f"{SEG_HYPOTHESIS_PAGE}; {PLAYBACK_HYPOTHESIS_PAGE}; ref §4.1, §4.3",
    ),
    _warning(
        "hypothesis.annotations_shape",
        'videoannotation `hypothesis.annotations` is `{"url": ...}` or an inline per-frame array (no Scale page '
        "documents it; FiftyOne sends the url form).",
        "ref §4.3",
    ),
    _error(
        "hypothesis.unknown_label",
        "`labelMapping` keys are leaf labels of the task (not checked when the project defines the labels).",
        f"{SEG_HYPOTHESIS_PAGE}; ref §4.1",
    ),
    _error(
        "hypothesis.instance_shape",
        "Instance labels map to an array of `{index, color?}`; other labels map to one object.",
        f"{SEG_HYPOTHESIS_PAGE}; ref §4.1",
    ),
    _error(
        "hypothesis.index",
        "`labelMapping` indexes are integers >= 1 (0 means unlabeled).",
        f"{SEG_HYPOTHESIS_PAGE}; docs.scale.com/reference/segmentannotation-callback-format; ref §4.1, §5.3",
    ),
    _error(
        "hypothesis.duplicate_index",
        "`labelMapping` indexes are unique.",
        "docs.scale.com/reference/segmentannotation-callback-format; ref §5.3",
    ),
]

RULES_BY_CODE: dict[str, Rule] = {rule.code: rule for rule in RULES}
