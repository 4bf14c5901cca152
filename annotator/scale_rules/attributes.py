"""`annotation_attributes` and their conditions (§3.2, §3.3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .labels import Leaves, check_label_list, check_leaf_references
from .limits import ATTRIBUTE_TYPES, DEFAULT_ATTRIBUTE_TYPE, SEGMENTATION
from .report import ARRAY_TYPES, Report, describe, index_path, is_blank, key_path, quote

# `global: true` marks an attribute of the whole scene (segmentation) or a global track
# attribute (video): docs.scale.com/reference/global-attributes, ref §0b.
_COMMON_FIELDS = frozenset({"type", "description", "conditions", "global"})
# Only category, number and linked have documented extra fields; the other types get the
# common fields only until Scale documents more ([UNCONFIRMED], reference §3.2).
ATTRIBUTE_FIELDS: dict[str, frozenset[str]] = {
    "category": _COMMON_FIELDS | {"choices", "allow_multiple"},
    "number": _COMMON_FIELDS | {"min", "max", "step"},
    "angle": _COMMON_FIELDS,
    "text": _COMMON_FIELDS,
    "x_line": _COMMON_FIELDS,
    "y_line": _COMMON_FIELDS,
    "linked": _COMMON_FIELDS | {"allowed_labels", "required"},
}
# `is_global: true` inside conditions marks a scene-level attribute (segmentation) or an
# attribute of events (video): docs.scale.com/reference/global-attributes.
_CONDITION_FIELDS = frozenset({"label_condition", "attribute_conditions", "is_global"})


@dataclass(frozen=True)
class Attribute:
    type: str | None  # None when the type itself is invalid
    choices: frozenset[str] | None  # leaf choices of a category attribute, when readable


def check_attributes(
    report: Report, attributes: Any, path: str, leaves: Leaves, task_type: str
) -> dict[str, Attribute]:
    """Check every definition, then every condition (which may refer to any attribute)."""
    if not report.object(attributes, path):
        return {}
    found: dict[str, Attribute] = {}
    for attribute_id, definition in attributes.items():
        attribute_path = key_path(path, attribute_id)
        if not isinstance(attribute_id, str) or is_blank(attribute_id):
            report.add(attribute_path, "string.empty", "attribute ids must not be blank")
            continue
        if report.object(definition, attribute_path):
            found[attribute_id] = _check_definition(report, definition, attribute_path, leaves)
    for attribute_id, definition in attributes.items():
        if isinstance(definition, dict) and "conditions" in definition:
            _check_conditions(
                report,
                definition["conditions"],
                key_path(key_path(path, attribute_id), "conditions"),
                attribute_id=attribute_id,
                leaves=leaves,
                attributes=attributes,
                found=found,
            )
    # §1.1: segmentation attributes "apply only to instance annotations"; a global one
    # applies to the scene as a whole (§0b), and project-defined labels are unknown here.
    per_instance = [
        definition for definition in attributes.values() if isinstance(definition, dict) and not is_global(definition)
    ]
    if (
        task_type == SEGMENTATION
        and per_instance
        and not leaves.open
        and leaves.instance
        and not any(leaves.instance.values())
    ):
        report.add(
            path,
            "attributes.no_instance_labels",
            "segmentannotation attributes apply only to instance annotations, but no label sets "
            "instance_label: true, so they will not be asked (mark them global: true for the whole image)",
        )
    return found


def is_global(definition: dict[Any, Any]) -> bool:
    """A scene attribute (`global: true`, or Scale's `conditions.is_global`): asked once per image."""
    conditions = definition.get("conditions")
    return definition.get("global") is True or (isinstance(conditions, dict) and conditions.get("is_global") is True)


def _check_definition(report: Report, definition: dict[Any, Any], path: str, leaves: Leaves) -> Attribute:
    attribute_type: str | None = DEFAULT_ATTRIBUTE_TYPE
    if "type" in definition:
        value = definition["type"]
        if isinstance(value, str) and value in ATTRIBUTE_FIELDS:
            attribute_type = value
        else:
            attribute_type = None
            report.add(
                key_path(path, "type"),
                "attribute.type",
                f"unknown attribute type {quote(value) if isinstance(value, str) else describe(value)}; "
                f"expected one of {', '.join(ATTRIBUTE_TYPES)}",
            )
    if attribute_type is not None:
        report.unknown_keys(definition, ATTRIBUTE_FIELDS[attribute_type], path, f"a {attribute_type} attribute")
    if "global" in definition:
        report.boolean(definition["global"], key_path(path, "global"))
    # [INF] The linked-attributes page marks only `conditions` optional among the keys.
    if "description" not in definition:
        report.add(key_path(path, "description"), "field.expected", "is expected (the text shown to taskers)")
    else:
        report.string(definition["description"], key_path(path, "description"))

    choices = None
    # With an invalid type, `choices` still shows the attribute is meant to be a category
    # (the seed's example has both mistakes), so its choices are checked all the same.
    if attribute_type == "category" or (attribute_type is None and "choices" in definition):
        choices = _check_choices(report, definition, path)
    elif attribute_type == "number":
        _check_number(report, definition, path)
    elif attribute_type == "linked":
        _check_linked(report, definition, path, leaves)
    return Attribute(attribute_type, choices)


def _check_choices(report: Report, definition: dict[Any, Any], path: str) -> frozenset[str] | None:
    if "allow_multiple" in definition:
        report.boolean(definition["allow_multiple"], key_path(path, "allow_multiple"))
    choices_path = key_path(path, "choices")
    if "choices" not in definition:
        report.add(
            choices_path,
            "attribute.choices",
            "is required for a category attribute: an array of strings or LabelDescription objects",
        )
        return None
    choices = definition["choices"]
    if isinstance(choices, str):
        # Reference §3.2: the seed's `"choices": "choices"` is a placeholder, not a value.
        report.add(
            choices_path,
            "attribute.choices",
            f'must be an array of choices such as ["Yes", "No"], not a string '
            f'(got {quote(choices)}; "choices": "choices" in an example of Scale\'s documentation is a placeholder)',
        )
        return None
    if not isinstance(choices, ARRAY_TYPES):
        report.add(
            choices_path,
            "attribute.choices",
            f"must be an array of strings or LabelDescription objects, got {describe(choices)}",
        )
        return None
    if not choices:
        report.add(choices_path, "attribute.choices", "must list at least one choice")
        return None
    choice_leaves = Leaves(report, what="choice")
    check_label_list(report, choices, choices_path, choice_leaves, allow_instance=False)
    return frozenset(choice_leaves.instance)


def _check_number(report: Report, definition: dict[Any, Any], path: str) -> None:
    bounds = {}
    for field in ("min", "max"):
        if field in definition and report.number(definition[field], key_path(path, field)):
            bounds[field] = definition[field]
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        report.add(
            key_path(path, "max"),
            "attribute.number_range",
            f"must be at least min ({describe(bounds['min'])}), got {describe(bounds['max'])}",
        )
    if "step" in definition:
        step_path = key_path(path, "step")
        step = definition["step"]
        if report.number(step, step_path) and step <= 0:
            report.add(step_path, "attribute.step", f"must be greater than 0 (default 1), got {describe(step)}")


def _check_linked(report: Report, definition: dict[Any, Any], path: str, leaves: Leaves) -> None:
    if "required" in definition:
        report.boolean(definition["required"], key_path(path, "required"))
    labels_path = key_path(path, "allowed_labels")
    if "allowed_labels" not in definition:
        report.add(
            labels_path,
            "attribute.allowed_labels",
            "is required for a linked attribute: the leaf labels it may link to",
        )
        return
    check_leaf_references(
        report,
        definition["allowed_labels"],
        labels_path,
        leaves,
        empty_code="attribute.allowed_labels",
        unknown_code="attribute.allowed_label_unknown",
    )


def _check_conditions(
    report: Report,
    conditions: Any,
    path: str,
    *,
    attribute_id: str,
    leaves: Leaves,
    attributes: dict[Any, Any],
    found: dict[str, Attribute],
) -> None:
    if not report.object(conditions, path):
        return
    if not conditions:
        report.add(path, "condition.empty", "must contain label_condition and/or attribute_conditions")
    report.unknown_keys(conditions, _CONDITION_FIELDS, path, "conditions")
    if "is_global" in conditions:
        report.boolean(conditions["is_global"], key_path(path, "is_global"))
    if "label_condition" in conditions:
        _check_label_condition(report, conditions["label_condition"], key_path(path, "label_condition"), leaves)
    if "attribute_conditions" in conditions:
        _check_attribute_conditions(
            report,
            conditions["attribute_conditions"],
            key_path(path, "attribute_conditions"),
            attribute_id=attribute_id,
            attributes=attributes,
            found=found,
        )


def _check_label_condition(report: Report, condition: Any, path: str, leaves: Leaves) -> None:
    if not isinstance(condition, dict):
        # Reference §3.3: the seed's `"label_condition": ["car", "car2"]` is the wrong shape.
        seed = (
            " (an example in Scale's documentation uses an array here; the documented form is an object)"
            if isinstance(condition, ARRAY_TYPES)
            else ""
        )
        report.add(
            path,
            "condition.label_condition_shape",
            f'must be an object like {{"label": ["car", "truck"]}}{seed}, got {describe(condition)}',
        )
        return
    report.unknown_keys(condition, frozenset({"label"}), path, "label_condition")
    if "label" not in condition:
        report.add(key_path(path, "label"), "field.required", "is required (a leaf label or an array of them)")
        return
    for label, label_path in _condition_values(report, condition["label"], key_path(path, "label")):
        if label not in leaves and label not in leaves.events:
            report.add(label_path, "condition.unknown_label", f"{quote(label)} is not a leaf label of this task")


def _check_attribute_conditions(
    report: Report,
    conditions: Any,
    path: str,
    *,
    attribute_id: str,
    attributes: dict[Any, Any],
    found: dict[str, Attribute],
) -> None:
    if not isinstance(conditions, ARRAY_TYPES):
        # Reference §3.3: the seed sends one object; the documented form is an array of
        # objects, ORed together, with the keys inside one object ANDed.
        seed = (
            " (an example in Scale's documentation uses a single object here; the documented form is an array)"
            if isinstance(conditions, dict)
            else ""
        )
        report.add(
            path,
            "condition.attribute_conditions_shape",
            f'must be an array of condition objects like [{{"is_moving": "No"}}, '
            f'{{"is_parked": "Yes"}}] (ORed; keys inside one object are ANDed){seed}, '
            f"got {describe(conditions)}",
        )
        return
    for i, condition in enumerate(conditions):
        condition_path = index_path(path, i)
        if not isinstance(condition, dict):
            report.add(
                condition_path,
                "condition.attribute_conditions_shape",
                f"must be an object mapping attribute ids to values, got {describe(condition)}",
            )
            continue
        if not condition:
            report.add(condition_path, "condition.empty", "must name at least one attribute")
        for other_id, values in condition.items():
            value_path = key_path(condition_path, other_id)
            if other_id == attribute_id:
                report.add(value_path, "condition.self_reference", "an attribute's conditions cannot refer to itself")
                continue
            if other_id not in attributes:
                report.add(
                    value_path,
                    "condition.unknown_attribute",
                    "is not an attribute of annotation_attributes",
                )
                continue
            choices = found[other_id].choices if other_id in found else None
            for value, path_of_value in _condition_values(report, values, value_path):
                if choices is not None and value not in choices:
                    listed = ", ".join(sorted(choices))
                    report.add(
                        path_of_value,
                        "condition.unknown_choice",
                        f"{quote(value)} is not a choice of attribute {quote(str(other_id))} (choices: {listed})",
                    )


def _condition_values(report: Report, value: Any, path: str) -> list[tuple[str, str]]:
    """A condition value is a string or an array of strings (§3.3): (value, path) pairs."""
    if isinstance(value, str):
        return [(value, path)]
    if not isinstance(value, ARRAY_TYPES):
        report.add(path, "condition.value", f"must be a string or an array of strings, got {describe(value)}")
        return []
    if not value:
        report.add(path, "condition.value", "must list at least one value")
    pairs = []
    for i, item in enumerate(value):
        item_path = index_path(path, i)
        if isinstance(item, str):
            pairs.append((item, item_path))
        else:
            report.add(item_path, "condition.value", f"must be a string, got {describe(item)}")
    return pairs


def linked_attribute_ids(found: dict[str, Attribute]) -> set[str]:
    return {attribute_id for attribute_id, attribute in found.items() if attribute.type == "linked"}
