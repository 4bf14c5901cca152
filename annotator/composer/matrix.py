"""The "when is this asked?" matrix: leaf labels x annotation attributes.

Scale's conditions (§3.3): an attribute is asked for an annotation when its label_condition
names the annotation's label (or there is none) and at least one object of
attribute_conditions holds (OR between objects, AND between the keys of one object). A key
can only hold if that other attribute is itself asked for the label and one of the wanted
values is among its choices; a condition that depends on itself, directly or through others,
never holds. validate() reports unknown labels, attributes and choices; this module shows the
effect of conditions that are each valid but do not fit together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from annotator import scale_rules

ALWAYS, CONDITIONAL, NEVER = "always", "conditional", "never"


@dataclass
class Row:
    attribute: str
    cells: list[tuple[str, str]]  # (state, note) per label
    warnings: list[str] = field(default_factory=list)


@dataclass
class Matrix:
    labels: list[str]
    rows: list[Row]

    @property
    def warnings(self) -> list[str]:
        return [f"{row.attribute}: {warning}" for row in self.rows for warning in row.warnings]


def _values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


class _Attributes:
    def __init__(self, attributes: dict[str, Any]) -> None:
        self.defs = {key: value for key, value in attributes.items() if isinstance(value, dict)}
        self.cycles: set[str] = set()

    def label_allowed(self, attribute: str, label: str) -> bool:
        conditions = self.defs[attribute].get("conditions")
        if not isinstance(conditions, dict) or not isinstance(conditions.get("label_condition"), dict):
            return True
        return label in _values(conditions["label_condition"].get("label"))

    def groups(self, attribute: str) -> list[dict[str, Any]]:
        conditions = self.defs[attribute].get("conditions")
        groups = conditions.get("attribute_conditions") if isinstance(conditions, dict) else None
        return [group for group in groups if isinstance(group, dict)] if isinstance(groups, list) else []

    def choices(self, attribute: str) -> set[str] | None:
        definition = self.defs[attribute]
        if definition.get("type", "category") != "category":
            return None  # free values (number, text...): any wanted value may be answered
        return set(scale_rules.leaf_labels(definition.get("choices")))

    def state(self, attribute: str, label: str, visiting: tuple[str, ...] = ()) -> str:
        if not self.label_allowed(attribute, label):
            return NEVER
        groups = self.groups(attribute)
        if not groups:
            return ALWAYS
        visiting = (*visiting, attribute)
        return CONDITIONAL if any(self.group_holds(group, label, visiting) for group in groups) else NEVER

    def group_holds(self, group: dict[str, Any], label: str, visiting: tuple[str, ...]) -> bool:
        return all(self.key_holds(other, wanted, label, visiting) for other, wanted in group.items()) and bool(group)

    def key_holds(self, other: str, wanted: Any, label: str, visiting: tuple[str, ...]) -> bool:
        if other not in self.defs:
            return False
        if other in visiting:
            self.cycles.update(visiting[visiting.index(other) :])
            return False
        choices = self.choices(other)
        if choices is not None and not set(_values(wanted)) & choices:
            return False
        return self.state(other, label, visiting) != NEVER


def _describe(group: dict[str, Any]) -> str:
    return " and ".join(f"{key} is {' or '.join(_values(value)) or '?'}" for key, value in group.items())


def when_asked(leaves: list[str], attributes: Any) -> Matrix:
    if not isinstance(attributes, dict):
        return Matrix(leaves, [])
    model = _Attributes(attributes)
    rows = []
    for attribute in model.defs:
        groups = model.groups(attribute)
        note = "if " + "; or if ".join(_describe(group) for group in groups) if groups else ""
        cells = []
        for label in leaves:
            state = model.state(attribute, label)
            cells.append((state, note if state == CONDITIONAL else ""))
        row = Row(attribute, cells)
        allowed = [label for label in leaves if model.label_allowed(attribute, label)]
        for i, group in enumerate(groups):
            if allowed and not any(model.group_holds(group, label, (attribute,)) for label in allowed):
                row.warnings.append(
                    f"condition {i + 1} ({_describe(group) or 'empty'}) can never be true for the labels "
                    f"this attribute is asked for ({', '.join(allowed)})"
                )
        if leaves and not allowed:
            row.warnings.append("its label condition names none of this task's labels, so it is never asked")
        elif leaves and all(state == NEVER for state, _ in cells) and not row.warnings:
            row.warnings.append("it is never asked: no label satisfies its conditions")
        rows.append(row)
    for row in rows:
        if row.attribute in model.cycles:
            row.warnings.insert(0, "its conditions depend on themselves (a circular dependency), so they never hold")
    return Matrix(leaves, rows)
