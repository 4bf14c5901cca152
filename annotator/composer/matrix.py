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
from annotator.scale_rules.attributes import is_global

ALWAYS, CONDITIONAL, NEVER = "always", "conditional", "never"
# Labels x (attributes + condition keys) one preview may tabulate. The work is linear in this
# product, so it bounds the CPU one request can take (well under 50 ms at this size); a table
# past it would not fit a screen anyway. Scale is not stricter: only the table is skipped.
MAX_WORK = 30_000


@dataclass
class Row:
    attribute: str
    cells: list[tuple[str, str]]  # (state, note) per label
    warnings: list[str] = field(default_factory=list)


@dataclass
class Matrix:
    labels: list[str]
    rows: list[Row]
    too_large: str = ""  # why the table is not shown, when the input is beyond MAX_WORK

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
    """The conditions of one task, read once; which attributes can be asked is worked out per label.

    "Can be asked" is the least fixed point of the rules above: an attribute is asked for a label
    when its label condition allows it and it has no attribute conditions, or when every key of
    one of its groups names an attribute that can itself be asked (with a wanted value among its
    choices). Computing it by unit propagation (each group counts the keys it still waits for)
    costs one pass over the conditions per label, however the conditions chain; following them
    recursively instead costs twice as much per link of a chain. A cycle adds nothing to a fixed
    point, so an attribute that depends only on itself is never asked, as before.
    """

    def __init__(self, attributes: dict[str, Any], instance_labels: set[str] | None = None) -> None:
        self.defs = {key: value for key, value in attributes.items() if isinstance(value, dict)}
        self.allowed_labels: dict[str, set[str] | None] = {}
        # Segmentation (§1.1): an attribute that is not global is asked of instance annotations
        # only, so of instance labels only; None for the video types, where every label counts.
        self.named_labels: dict[str, set[str] | None] = {}
        self.group_lists: dict[str, list[dict[str, Any]]] = {}
        # Per group (attribute, index): the distinct keys it waits for, or None when no answer
        # can ever satisfy it (an unknown attribute, itself, or no wanted value among the choices).
        self.group_keys: dict[tuple[str, int], frozenset[str] | None] = {}
        self.watchers: dict[str, list[tuple[str, int]]] = {}
        self._possible: dict[str, frozenset[str]] = {}
        for attribute in self.defs:
            named = self._label_condition(attribute)
            self.named_labels[attribute] = named
            if instance_labels is not None and not is_global(self.defs[attribute]):
                named = set(instance_labels) if named is None else named & instance_labels
            self.allowed_labels[attribute] = named
            self.group_lists[attribute] = self._groups(attribute)
        choices = {attribute: self._choices(attribute) for attribute in self.defs}
        for attribute, groups in self.group_lists.items():
            for index, group in enumerate(groups):
                keys = self._group_keys(attribute, group, choices)
                self.group_keys[(attribute, index)] = keys
                for key in keys or ():
                    self.watchers.setdefault(key, []).append((attribute, index))
        self.cycles = self._cycles()

    def _label_condition(self, attribute: str) -> set[str] | None:
        conditions = self.defs[attribute].get("conditions")
        if not isinstance(conditions, dict) or not isinstance(conditions.get("label_condition"), dict):
            return None  # every label
        return set(_values(conditions["label_condition"].get("label")))

    def _groups(self, attribute: str) -> list[dict[str, Any]]:
        conditions = self.defs[attribute].get("conditions")
        groups = conditions.get("attribute_conditions") if isinstance(conditions, dict) else None
        return [group for group in groups if isinstance(group, dict)] if isinstance(groups, list) else []

    def _choices(self, attribute: str) -> set[str] | None:
        definition = self.defs[attribute]
        if definition.get("type", "category") != "category":
            return None  # free values (number, text...): any wanted value may be answered
        return set(scale_rules.leaf_labels(definition.get("choices")))

    def _group_keys(
        self, attribute: str, group: dict[str, Any], choices: dict[str, set[str] | None]
    ) -> frozenset[str] | None:
        if not group:
            return None
        for other, wanted in group.items():
            if other not in self.defs or other == attribute:
                return None
            allowed = choices[other]
            if allowed is not None and not set(_values(wanted)) & allowed:
                return None
        return frozenset(group)

    def _cycles(self) -> set[str]:
        """Attributes on a cycle of "depends on" (Tarjan's strongly connected components, iteratively)."""
        edges = {
            attribute: sorted({key for group in groups for key in group if key in self.defs})
            for attribute, groups in self.group_lists.items()
        }
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        cycles: set[str] = set()
        for root in self.defs:
            if root in index:
                continue
            work = [(root, 0)]
            while work:
                node, position = work.pop()
                if position == 0:
                    index[node] = low[node] = len(index)
                    stack.append(node)
                    on_stack.add(node)
                if position < len(edges[node]):
                    work.append((node, position + 1))
                    child = edges[node][position]
                    if child not in index:
                        work.append((child, 0))
                    elif child in on_stack:
                        low[node] = min(low[node], index[child])
                    continue
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in edges[node]:
                        cycles.update(component)
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
        return cycles

    def label_allowed(self, attribute: str, label: str) -> bool:
        allowed = self.allowed_labels[attribute]
        return allowed is None or label in allowed

    def label_named(self, attribute: str, label: str) -> bool:
        """Its label_condition alone lets `label` through (the instance-only rule aside)."""
        named = self.named_labels[attribute]
        return named is None or label in named

    def groups(self, attribute: str) -> list[dict[str, Any]]:
        return self.group_lists[attribute]

    def possible(self, label: str) -> frozenset[str]:
        """Every attribute that can be asked for an annotation of `label` (memoised per label)."""
        if label in self._possible:
            return self._possible[label]
        waiting: dict[tuple[str, int], int] = {}
        found: set[str] = set()
        queue: list[str] = []
        for attribute in self.defs:
            if not self.label_allowed(attribute, label):
                continue
            groups = self.group_lists[attribute]
            if not groups:
                found.add(attribute)
                queue.append(attribute)
            for index in range(len(groups)):
                keys = self.group_keys[(attribute, index)]
                if keys is not None:
                    waiting[(attribute, index)] = len(keys)
        while queue:
            key = queue.pop()
            for group in self.watchers.get(key, ()):
                if group not in waiting:
                    continue  # its attribute is not asked for this label at all
                waiting[group] -= 1
                attribute = group[0]
                if waiting[group] == 0 and attribute not in found:
                    found.add(attribute)
                    queue.append(attribute)
        result = frozenset(found)
        self._possible[label] = result
        return result

    def state(self, attribute: str, label: str) -> str:
        if attribute not in self.possible(label):
            return NEVER
        return CONDITIONAL if self.group_lists[attribute] else ALWAYS

    def group_holds(self, attribute: str, index: int, label: str) -> bool:
        keys = self.group_keys[(attribute, index)]
        return keys is not None and keys <= self.possible(label)


def _describe(group: dict[str, Any]) -> str:
    return " and ".join(f"{key} is {' or '.join(_values(value)) or '?'}" for key, value in group.items())


INSTANCE_ONLY = "segmentation attributes are asked of instance labels only"


def when_asked(leaves: list[str], attributes: Any, instance_labels: set[str] | None = None) -> Matrix:
    """The matrix for these leaf labels; `instance_labels` (segmentation only) are the leaves
    with instance_label: true, the only ones a non-global attribute is asked of."""
    if not isinstance(attributes, dict):
        return Matrix(leaves, [])
    attribute_count = sum(1 for value in attributes.values() if isinstance(value, dict))
    keys = sum(
        len(group)
        for value in attributes.values()
        if isinstance(value, dict)
        and isinstance(value.get("conditions"), dict)
        and isinstance(value["conditions"].get("attribute_conditions"), list)
        for group in value["conditions"]["attribute_conditions"]
        if isinstance(group, dict)
    )
    if len(leaves) * (attribute_count + keys) > MAX_WORK:
        # Only the table is left out: the task itself is validated and can be submitted.
        return Matrix(
            leaves,
            [],
            too_large=f"{len(leaves)} labels and {attribute_count} attributes with {keys} conditions "
            "are too many to tabulate here; the task itself is still checked in full.",
        )
    model = _Attributes(attributes, instance_labels)
    rows = []
    for attribute in model.defs:
        groups = model.groups(attribute)
        note = "if " + "; or if ".join(_describe(group) for group in groups) if groups else ""
        cells = []
        for label in leaves:
            state = model.state(attribute, label)
            if state == CONDITIONAL:
                cells.append((state, note))
            elif not model.label_allowed(attribute, label) and model.label_named(attribute, label):
                cells.append((state, INSTANCE_ONLY))  # the hover says why "—"
            else:
                cells.append((state, ""))
        row = Row(attribute, cells)
        allowed = [label for label in leaves if model.label_allowed(attribute, label)]
        named = [label for label in leaves if model.label_named(attribute, label)]
        for i, group in enumerate(groups):
            if allowed and not any(model.group_holds(attribute, i, label) for label in allowed):
                row.warnings.append(
                    f"condition {i + 1} ({_describe(group) or 'empty'}) can never be true for the labels "
                    f"this attribute is asked for ({', '.join(allowed)})"
                )
        if leaves and not allowed and named:
            if instance_labels:  # with none at all, validate() already says so once for every attribute
                row.warnings.append(
                    f"{INSTANCE_ONLY}, and none of its labels ({', '.join(named)}) sets instance_label: true, "
                    "so it is never asked (or mark it global: true)"
                )
        elif leaves and not allowed:
            row.warnings.append("its label condition names none of this task's labels, so it is never asked")
        elif leaves and all(state == NEVER for state, _ in cells) and not row.warnings:
            row.warnings.append("it is never asked: no label satisfies its conditions")
        if attribute in model.cycles:
            never = not leaves or all(state == NEVER for state, _ in cells)
            row.warnings.insert(
                0,
                "its conditions depend on themselves (a circular dependency)"
                + (", so they never hold" if never else ""),
            )
        rows.append(row)
    return Matrix(leaves, rows)
