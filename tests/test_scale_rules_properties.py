"""Property tests: generated valid input builds into valid payloads, single violations are
reported where they happen, and no input at all makes validate() raise."""

from __future__ import annotations

import copy
import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotator import scale_rules
from annotator.scale_rules.metadata import _iterative_size

SEG = "segmentannotation"
VIDEO = "videoannotation"
PLAYBACK = "videoplaybackannotation"

# The autouse fixture below is a no-op, so sharing it between examples is harmless.
SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Pure-Python tests: nothing to reset (overrides the Django cache fixture in conftest)."""
    yield


# ---------------------------------------------------------------- valid structured input

NAME = st.text(alphabet=string.ascii_letters + string.digits + " _-éü", min_size=1, max_size=10).filter(str.strip)
SHORT_TEXT = st.text(alphabet=string.printable, max_size=20)
HOST = st.sampled_from(["example.com", "cdn.example.org", "127.0.0.1:8000", "static.scale.com"])
IMAGE_URL = st.builds("https://{}/img/{}.png".format, HOST, st.integers(0, 9999))
VIDEO_URL = st.builds(
    "{}://{}/v/{}.{}{}".format,
    st.sampled_from(["http", "https"]),
    HOST,
    st.integers(0, 9999),
    st.sampled_from(["mp4", "webm", "ogg", "MP4"]),
    st.sampled_from(["", "?X-Amz-Signature=abc", "#t=10"]),
)
JSON_SCALAR = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | SHORT_TEXT
)
JSON_VALUE = st.recursive(
    JSON_SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(SHORT_TEXT, inner, max_size=4),
    max_leaves=12,
)
EMPTY = st.sampled_from([None, "", [], {}])
POSITIVE = st.floats(min_value=0.01, max_value=240, allow_nan=False)
NON_NEGATIVE = st.floats(min_value=0, max_value=1e6, allow_nan=False) | st.integers(0, 10**6)


def unique_names(min_size: int, max_size: int) -> st.SearchStrategy[list[str]]:
    return st.lists(NAME, min_size=min_size, max_size=max_size, unique=True)


@st.composite
def label_tree(draw: Any, names: list[str], *, instance: bool, depth: int = 4) -> list[Any]:
    """Labels whose leaves are exactly `names`, in order, nested up to `depth` levels."""
    entries: list[Any] = []
    i = 0
    while i < len(names):
        if depth > 1 and draw(st.integers(0, 2)) == 0:
            size = draw(st.integers(1, len(names) - i))
            node: dict[str, Any] = {"choice": f"group {depth}.{i}"}
            if draw(st.booleans()):
                node["display"] = draw(NAME)
            if instance and draw(st.booleans()):
                node["instance_label"] = draw(st.booleans())
            node["subchoices"] = draw(label_tree(names[i : i + size], instance=instance, depth=depth - 1))
            entries.append(node)
            i += size
            continue
        name = names[i]
        i += 1
        if draw(st.booleans()):
            entries.append(name)
            continue
        node = {"choice": name}
        if draw(st.booleans()):
            node["display"] = draw(NAME)
        if instance and draw(st.booleans()):
            node["instance_label"] = draw(st.booleans())
        entries.append(node)
    return entries


def instance_leaves(labels: list[Any], inherited: bool = False) -> dict[str, bool]:
    """Leaf -> instance label? A parent's flag is inherited unless a leaf sets its own."""
    found: dict[str, bool] = {}
    for entry in labels:
        if isinstance(entry, str):
            found[entry] = inherited
        else:
            flag = entry.get("instance_label", inherited)
            if "subchoices" in entry:
                found.update(instance_leaves(entry["subchoices"], flag))
            else:
                found[entry["choice"]] = flag
    return found


@st.composite
def annotation_attributes(draw: Any, leaves: list[str], *, allow_linked: bool = True) -> dict[str, Any]:
    ids = draw(
        st.lists(st.text(alphabet=string.ascii_letters + "_-.", min_size=1, max_size=8), max_size=6, unique=True)
    )
    definitions: dict[str, dict[str, Any]] = {}
    choices_of: dict[str, list[str]] = {}
    kinds = [kind for kind in scale_rules.ATTRIBUTE_TYPES if kind != "linked" or (leaves and allow_linked)]
    for attribute_id in ids:
        kind = draw(st.sampled_from(kinds))
        definition: dict[str, Any] = {"description": draw(NAME)}
        if kind != "category" or draw(st.booleans()):
            definition["type"] = kind
        if kind == "category":
            choices = draw(unique_names(1, 6))
            definition["choices"] = draw(label_tree(choices, instance=False, depth=3))
            choices_of[attribute_id] = choices
            if draw(st.booleans()):
                definition["allow_multiple"] = draw(st.booleans())
        elif kind == "number":
            low, high = sorted(draw(st.lists(st.integers(-1000, 1000), min_size=2, max_size=2)))
            definition.update({"min": low, "max": high}) if draw(st.booleans()) else None
            if draw(st.booleans()):
                definition["step"] = draw(POSITIVE)
        elif kind == "linked":
            definition["allowed_labels"] = draw(st.lists(st.sampled_from(leaves), min_size=1, max_size=3, unique=True))
            if draw(st.booleans()):
                definition["required"] = draw(st.booleans())
        definitions[attribute_id] = definition

    for attribute_id, definition in definitions.items():
        conditions: dict[str, Any] = {}
        if leaves and draw(st.booleans()):
            labels = draw(st.lists(st.sampled_from(leaves), min_size=1, max_size=3))
            conditions["label_condition"] = {"label": labels[0] if len(labels) == 1 and draw(st.booleans()) else labels}
        others = [other for other in choices_of if other != attribute_id]
        if others and draw(st.booleans()):
            ored = []
            for _ in range(draw(st.integers(1, 3))):
                anded = {}
                for other in draw(st.lists(st.sampled_from(others), min_size=1, max_size=2, unique=True)):
                    values = draw(st.lists(st.sampled_from(choices_of[other]), min_size=1, max_size=2))
                    anded[other] = values[0] if len(values) == 1 and draw(st.booleans()) else values
                ored.append(anded)
            conditions["attribute_conditions"] = ored
        if conditions:
            definition["conditions"] = conditions
    return definitions


@st.composite
def shared_fields(draw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    optional = {
        "project": NAME | EMPTY,
        "batch": NAME | EMPTY,
        "instruction": SHORT_TEXT | EMPTY,
        "callback_url": IMAGE_URL | st.just("ops@example.com") | EMPTY,
        "metadata": st.dictionaries(SHORT_TEXT, JSON_VALUE, max_size=5) | EMPTY,
        "unique_id": NAME | EMPTY,
        "clear_unique_id_on_error": st.booleans() | st.none(),
        "tags": st.lists(NAME, max_size=5) | EMPTY,
        "priority": st.sampled_from(scale_rules.PRIORITIES) | st.none(),
    }
    for field, strategy in optional.items():
        if draw(st.booleans()):
            fields[field] = draw(strategy)
    return fields


@st.composite
def segmentation_input(draw: Any) -> dict[str, Any]:
    names = draw(unique_names(1, 15))
    labels = draw(label_tree(names, instance=True))
    instance = instance_leaves(labels)
    attachment = draw(IMAGE_URL)
    data: dict[str, Any] = {"attachment": attachment, "labels": labels, **draw(shared_fields())}
    if draw(st.booleans()):
        data["attachment_type"] = "image"
    if any(instance.values()) and draw(st.booleans()):
        data["annotation_attributes"] = draw(annotation_attributes(names))
    if draw(st.booleans()):
        data["allow_unlabeled"] = draw(st.booleans())
    if draw(st.booleans()):
        urls = draw(st.lists(IMAGE_URL.filter(lambda url: url != attachment), max_size=3))
        data["context_attachments"] = [{"attachment": url} for url in urls]
    if draw(st.booleans()):
        mapping: dict[str, Any] = {}
        next_index = 1
        for name in draw(st.lists(st.sampled_from(names), unique=True)):
            count = draw(st.integers(1, 3)) if instance[name] else 1
            entries = []
            for _ in range(count):
                entry: dict[str, Any] = {"index": next_index}
                next_index += 1
                if draw(st.booleans()):
                    entry["color"] = draw(st.sampled_from(["#e6194b", "#3cb44b", "#ffe119"]))
                entries.append(entry)
            mapping[name] = entries if instance[name] else entries[0]
        data["hypothesis"] = {
            "labelMapping": mapping,
            "annotations": {"combined": {"indexedImage": draw(IMAGE_URL)}},
        }
    return data


@st.composite
def camera(draw: Any) -> dict[str, Any]:
    number = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False) | st.integers(-(10**4), 10**4)
    intrinsics = {key: draw(number) for key in ("fx", "fy", "cx", "cy")}
    if draw(st.booleans()):
        intrinsics["skew"] = draw(number)
    if draw(st.booleans()):
        intrinsics[draw(st.sampled_from(["scalefactor", "scale_factor"]))] = draw(POSITIVE)
    return {
        "camera_intrinsics": intrinsics,
        "camera_rotation_quaternion": {key: draw(number) for key in "wxyz"},
        "camera_height": draw(number),
    }


@st.composite
def geometry(draw: Any, kind: str, names: list[str], linked: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if names or draw(st.booleans()):
        result["objects_to_annotate"] = draw(label_tree(names, instance=False, depth=3))
    if kind in ("box", "cuboid"):
        for field in ("min_height", "min_width"):
            if draw(st.booleans()):
                result[field] = draw(st.integers(0, 500))
    if kind == "box":
        rotate, integer = draw(
            st.sampled_from([(None, None), (True, False), (False, True), (False, False), (True, None)])
        )
        result.update(
            {key: value for key, value in (("can_rotate", rotate), ("integer_pixels", integer)) if value is not None}
        )
    elif kind in ("polygon", "line"):
        minimum = draw(st.none() | st.integers(1, 8))
        if minimum is not None:
            result["min_vertices"] = minimum
        if draw(st.booleans()):
            result["max_vertices"] = draw(st.none() | st.integers(minimum or 1, 50))
    elif kind == "point" and names and draw(st.booleans()):
        connections = []
        for _ in range(draw(st.integers(1, 3))):
            connection: dict[str, Any] = {"pair": [draw(st.sampled_from(names)), draw(st.sampled_from(names))]}
            if linked and draw(st.booleans()):
                connection["connection_attribute"] = draw(st.sampled_from(linked))
            connections.append(connection)
        result["connections"] = connections
    elif kind == "cuboid" and draw(st.booleans()):
        result.update(draw(camera()))
    return result


@st.composite
def video_input(draw: Any, task_type: str) -> dict[str, Any]:
    kinds = draw(st.lists(st.sampled_from(scale_rules.GEOMETRY_KINDS), min_size=1, unique=True))
    names = draw(unique_names(0, 15))
    cuts = sorted(draw(st.lists(st.integers(0, len(names)), min_size=len(kinds) - 1, max_size=len(kinds) - 1)))
    chunks = [names[start:end] for start, end in zip([0, *cuts], [*cuts, len(names)], strict=True)]
    data: dict[str, Any] = {**draw(shared_fields())}
    attributes = draw(annotation_attributes(names)) if draw(st.booleans()) else {}
    if attributes:
        data["annotation_attributes"] = attributes
    linked = [key for key, value in attributes.items() if value.get("type") == "linked"]
    data["geometries"] = {kind: draw(geometry(kind, chunk, linked)) for kind, chunk in zip(kinds, chunks, strict=True)}

    modes = ["image", "video", "both"] if task_type == PLAYBACK else ["image", "video"]
    mode = draw(st.sampled_from(modes))
    if mode in ("image", "both"):
        data["attachments"] = draw(st.lists(IMAGE_URL, min_size=1, max_size=4))
    if mode in ("video", "both"):
        data["attachment"] = draw(VIDEO_URL)
    if mode == "both" or draw(st.booleans()):
        data["attachment_type"] = "video" if mode == "video" else "image"

    if names and draw(st.booleans()):
        links = {}
        for link_name in draw(st.lists(NAME, min_size=1, max_size=3, unique=True)):
            link = {
                "from_allowed_labels": draw(st.lists(st.sampled_from(names), min_size=1, max_size=3)),
                "to_allowed_labels": draw(st.lists(st.sampled_from(names), min_size=1, max_size=3)),
            }
            if draw(st.booleans()):
                link["is_bidirectional"] = draw(st.booleans())
            links[link_name] = [link] if draw(st.booleans()) else link
        data["links"] = links
    optional = {
        "events_to_annotate": unique_names(0, 4),
        "frame_rate": POSITIVE,
        "start_time": NON_NEGATIVE,
        "duration_time": NON_NEGATIVE,
        "padding": st.integers(0, 500),
        "paddingX": st.integers(0, 500),
        "paddingY": st.integers(0, 500),
    }
    if task_type == PLAYBACK:
        optional.update(annotation_frame_rate=POSITIVE, video_frame_rate=POSITIVE)
    for field, strategy in optional.items():
        if draw(st.booleans()):
            data[field] = draw(strategy)
    if draw(st.booleans()):
        data["base_annotations"] = {
            "annotations": draw(st.just([{"label": "x", "type": "box"}]) | st.builds(lambda u: {"url": u}, IMAGE_URL))
        }
        for flag in (
            "can_add_base_annotations",
            "can_edit_base_annotations",
            "can_edit_base_annotation_labels",
            "can_delete_base_annotations",
        ):
            if draw(st.booleans()):
                data[flag] = draw(st.booleans())
    if draw(st.booleans()):
        url = {"url": draw(IMAGE_URL)}
        inline = [{"annotations": []}]
        data["hypothesis"] = {"annotations": url if task_type == PLAYBACK else draw(st.sampled_from([url, inline]))}
    return data


STRUCTURED_INPUT = {
    SEG: segmentation_input(),
    VIDEO: video_input(VIDEO),
    PLAYBACK: video_input(PLAYBACK),
}
VALID_PAYLOAD = st.sampled_from(scale_rules.TASK_TYPES).flatmap(
    lambda task_type: st.tuples(
        st.just(task_type), STRUCTURED_INPUT[task_type].map(lambda data: scale_rules.build_payload(task_type, data))
    )
)


@pytest.mark.parametrize("task_type", scale_rules.TASK_TYPES)
def test_it_accepts_every_payload_built_from_valid_input(task_type):
    @SETTINGS
    @given(STRUCTURED_INPUT[task_type])
    def check(data):
        payload = scale_rules.build_payload(task_type, data)
        assert [str(e) for e in scale_rules.validate(task_type, payload)] == []
        assert scale_rules.build_payload(task_type, payload) == payload  # building is idempotent

    check()


# ---------------------------------------------------------------- single-rule violations


def _first_geometry_with_labels(payload: dict[str, Any]) -> str | None:
    for kind, geometry in payload["geometries"].items():
        if geometry.get("objects_to_annotate"):
            return kind
    return None


def _duplicate_leaf(payload: dict[str, Any]) -> tuple[str, str] | None:
    if "labels" in payload:
        leaf = scale_rules.leaf_labels(payload["labels"])[0]
        payload["labels"].append(leaf)
        return "label.duplicate", f"labels[{len(payload['labels']) - 1}]"
    kind = _first_geometry_with_labels(payload)
    if kind is None:
        return None
    labels = payload["geometries"][kind]["objects_to_annotate"]
    labels.append(scale_rules.leaf_labels(labels)[0])
    return "label.duplicate", f"geometries.{kind}.objects_to_annotate[{len(labels) - 1}]"


def _set(field: str, value: Any, code: str, path: str | None = None):
    def mutate(payload: dict[str, Any]) -> tuple[str, str]:
        payload[field] = value
        return code, path or field

    return mutate


def _drop_required(payload: dict[str, Any], task_type: str) -> tuple[str, str]:
    field = "labels" if task_type == SEG else "geometries"
    payload.pop(field)
    payload.pop("hypothesis", None)  # refers to the labels; not the rule under test
    # A task naming a project or batch may leave them to the project's params (a warning).
    named = any(isinstance(payload.get(key), str) and payload[key].strip() for key in ("project", "batch"))
    return ("param.project_defined" if named else "param.required"), field


def _bad_choices(payload: dict[str, Any]) -> tuple[str, str]:
    payload.setdefault("annotation_attributes", {})["bad!"] = {"description": "d", "choices": "choices"}
    return "attribute.choices", 'annotation_attributes["bad!"].choices'


def _seed_label_condition(payload: dict[str, Any]) -> tuple[str, str]:
    attribute = {"type": "text", "description": "d", "conditions": {"label_condition": ["car", "car2"]}}
    payload.setdefault("annotation_attributes", {})["cond!"] = attribute
    return "condition.label_condition_shape", 'annotation_attributes["cond!"].conditions.label_condition'


def _point_xy(payload: dict[str, Any]) -> tuple[str, str]:
    payload["geometries"].setdefault("point", {})["x"] = " "
    return "geometry.point_xy", "geometries.point.x"


def _unknown_link_label(payload: dict[str, Any]) -> tuple[str, str]:
    payload.setdefault("links", {})["bad!"] = {"from_allowed_labels": ["nope!"], "to_allowed_labels": ["nope!"]}
    return "link.unknown_label", 'links["bad!"].from_allowed_labels[0]'


def _flags_without_base(payload: dict[str, Any]) -> tuple[str, str]:
    payload.pop("base_annotations", None)
    payload["can_delete_base_annotations"] = False
    return "base_annotations.flags_without_base", "can_delete_base_annotations"


SHARED_MUTATIONS = [
    _set("tags", ["a", "b", "c", "d", "e", "f"], "tags.max_count"),
    _set("priority", 15, "priority.invalid"),
    _set("metadata", {"blob": "x" * 10240}, "metadata.too_large"),
    _set("foo", 1, "param.unknown"),
    _set("clear_unique_id_on_error", "true", "type.boolean"),
    _set("callback_url", "example.com/callback", "callback_url.invalid"),
    _set("unique_id", "  ", "string.empty"),
    _duplicate_leaf,
    _bad_choices,
    _seed_label_condition,
]
SEGMENTATION_MUTATIONS = [
    _set("attachment", "not a url", "url.invalid"),
    _set("allow_unlabeled", "false", "type.boolean"),
    _set("attachment_type", "video", "attachment_type.invalid"),
    _set("padding", 1, "param.unknown"),
]
VIDEO_MUTATIONS = [
    _set("padding", -1, "padding.negative"),
    _set("frame_rate", 0, "frame_rate.not_positive"),
    _set("duration_time", ["10"], "type.number"),
    _set("events_to_annotate", 3, "type.array"),
    _set("events_to_annotate", ["Turning", "Turning"], "events.duplicate", "events_to_annotate[1]"),
    _set("attachment_type", "website", "attachment_type.invalid"),
    _set("allow_unlabeled", True, "param.unknown"),
    _point_xy,
    _unknown_link_label,
    _flags_without_base,
]


@SETTINGS
@given(VALID_PAYLOAD, st.data())
def test_it_reports_a_single_violation_where_it_happens(valid, data):
    task_type, payload = valid
    payload = copy.deepcopy(payload)
    specific = SEGMENTATION_MUTATIONS if task_type == SEG else VIDEO_MUTATIONS
    mutation = data.draw(st.sampled_from([*SHARED_MUTATIONS, *specific, "drop-required"]))
    expected = _drop_required(payload, task_type) if mutation == "drop-required" else mutation(payload)
    if expected is None:
        return  # the mutation does not apply to this payload (e.g. no labels to duplicate)
    errors = scale_rules.validate(task_type, payload)
    assert expected in [(e.code, e.path) for e in errors], [str(e) for e in errors]


# ---------------------------------------------------------------- validate never raises

ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10) | st.binary(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=10) | st.integers(), inner, max_size=5)
    ),
    max_leaves=30,
)
KNOWN_KEY = st.sampled_from(
    [
        *scale_rules.limits.FIELD_ORDER,
        "choice",
        "subchoices",
        "instance_label",
        "objects_to_annotate",
        "label_condition",
        "attribute_conditions",
        "labelMapping",
        "annotations",
        "url",
        "connections",
        "pair",
    ]
)


def assert_only_rule_errors(errors: Any) -> None:
    assert isinstance(errors, list)
    for error in errors:
        assert isinstance(error, scale_rules.RuleError)
        assert error.code in scale_rules.RULES_BY_CODE
        assert isinstance(str(error), str)


@SETTINGS
@given(st.sampled_from(scale_rules.TASK_TYPES) | ANY_VALUE, ANY_VALUE)
def test_it_never_raises_on_junk(task_type, payload):
    assert_only_rule_errors(scale_rules.validate(task_type, payload))


@SETTINGS
@given(st.sampled_from(scale_rules.TASK_TYPES), st.dictionaries(KNOWN_KEY, ANY_VALUE, max_size=8))
def test_it_never_raises_on_junk_under_known_keys(task_type, payload):
    assert_only_rule_errors(scale_rules.validate(task_type, payload))


@SETTINGS
@given(
    st.sampled_from(scale_rules.TASK_TYPES),
    st.dictionaries(KNOWN_KEY, ANY_VALUE | st.sampled_from(["", "  "]), max_size=8),
)
def test_it_never_changes_the_payload_it_judges(task_type, payload):
    # The composer sends the very payload it validated: an empty attachment was once deleted
    # from it in place (found by the composer's import round-trip property test).
    before = copy.deepcopy(payload)
    scale_rules.validate(task_type, payload)
    assert payload == before


def test_an_empty_attachment_is_judged_absent_but_left_in_place():
    payload = {"attachment": "", "labels": ["road"]}
    found = scale_rules.validate("segmentannotation", payload)
    assert any(e.path == "attachment" and e.severity == "error" for e in found)
    assert payload == {"attachment": "", "labels": ["road"]}


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@SETTINGS
@given(VALID_PAYLOAD, st.data(), ANY_VALUE)
def test_it_never_raises_when_any_part_of_a_valid_payload_is_junk(valid, data, junk):
    task_type, payload = valid
    payload = copy.deepcopy(payload)
    path = data.draw(st.sampled_from(_paths(payload)[1:]))
    container = payload
    for step in path[:-1]:
        container = container[step]
    container[path[-1]] = junk
    assert_only_rule_errors(scale_rules.validate(task_type, payload))


def deep_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def deep_labels(depth: int) -> dict[str, Any]:
    label: dict[str, Any] = {"choice": "leaf"}
    for level in range(depth):
        label = {"choice": f"l{level}", "subchoices": [label]}
    return label


@pytest.mark.parametrize(
    ("task_type", "payload"),
    [
        (SEG, deep_list(5000)),
        (SEG, {"attachment": "https://i.example.com/a.png", "labels": deep_list(5000)}),
        (SEG, {"attachment": "https://i.example.com/a.png", "labels": [deep_labels(5000)]}),
        (SEG, {"attachment": "https://i.example.com/a.png", "labels": ["a"], "metadata": {"d": deep_list(5000)}}),
        (SEG, {"attachment": "https://i.example.com/a.png", "labels": ["a"], "tags": deep_list(5000)}),
        (VIDEO, {"attachments": deep_list(5000), "geometries": {"box": {"objects_to_annotate": deep_list(5000)}}}),
        (VIDEO, {"geometries": {"box": {}}, "annotation_attributes": {"a": {"choices": [deep_labels(5000)]}}}),
        (VIDEO, {"geometries": {"box": {}}, "links": {"l": deep_list(5000)}, "hypothesis": deep_list(5000)}),
        (
            PLAYBACK,
            {
                "geometries": {"point": {"connections": deep_list(5000)}},
                "annotation_attributes": {"a": {"conditions": {"attribute_conditions": [{"a": deep_list(5000)}]}}},
            },
        ),
    ],
    ids=["payload", "labels", "subchoices", "metadata", "tags", "geometry-labels", "choices", "links", "conditions"],
)
def test_it_survives_5000_levels_of_nesting(task_type, payload):
    errors = scale_rules.validate(task_type, payload)
    assert_only_rule_errors(errors)


@pytest.mark.parametrize("payload", [None, 1, 1.5, "{}", b"{}", {1, 2}, object(), [], ()])
def test_it_reports_non_object_payloads(payload):
    assert [e.code for e in scale_rules.validate(SEG, payload)] == ["payload.not_object"]


def test_it_reports_non_json_values_instead_of_raising():
    payload = {
        "attachment": "https://i.example.com/a.png",
        "labels": [b"bytes", {"choice": {"a"}}],
        "metadata": {"when": object(), 10**5000: 1},
        "tags": [10**5000],
        "priority": float("inf"),
        "unique_id": "\ud800",
    }
    errors = scale_rules.validate(SEG, payload)
    assert_only_rule_errors(errors)
    assert {e.code for e in errors} >= {"label.invalid", "type.string", "metadata.not_json", "type.integer"}


# ---------------------------------------------------------------- helpers and speed


@SETTINGS
@given(JSON_VALUE)
def test_it_measures_metadata_like_json_dumps_even_without_recursion(value):
    expected = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    assert scale_rules.metadata_size(value) == expected
    assert _iterative_size(value, allow_nan=True) == expected


# How fast validate() is: bench/bench_scale_rules.py (docs/benchmarks.md), not a timed test.
def test_it_validates_a_typical_payload():
    from tests.test_scale_rules_violations import VIDEO_PAYLOAD

    assert scale_rules.validate(VIDEO, VIDEO_PAYLOAD) == []


def test_it_validates_50_labels_and_20_attributes():
    labels = [{"choice": f"group-{g}", "subchoices": [f"label-{g}-{i}" for i in range(4)]} for g in range(10)]
    labels += [{"choice": f"thing-{i}", "instance_label": True} for i in range(40)]
    leaves = scale_rules.leaf_labels(labels)
    attributes = {
        f"attr-{i}": {
            "description": "?",
            "choices": [f"c{j}" for j in range(5)],
            "conditions": {
                "label_condition": {"label": leaves[i : i + 10]},
                "attribute_conditions": [{f"attr-{(i + 1) % 20}": ["c1", "c2"]}],
            },
        }
        for i in range(20)
    }
    payload = {"attachment": "https://i.example.com/a.png", "labels": labels, "annotation_attributes": attributes}
    assert scale_rules.count_labels(labels) == 50
    assert scale_rules.validate(SEG, payload) == []
