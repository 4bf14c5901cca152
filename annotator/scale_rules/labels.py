"""Label lists: strings and LabelDescription objects nested through `subchoices` (§3.1).

Used for segmentation `labels`, geometry `objects_to_annotate` and category `choices`.
Only leaf nodes are selectable and appear in responses, so leaves are what conditions,
links, linked attributes and the hypothesis labelMapping may refer to.
"""

from __future__ import annotations

from typing import Any

from .limits import MAX_LABEL_DEPTH
from .report import ARRAY_TYPES, Report, describe, index_path, is_blank, key_path, quote

LABEL_FIELDS = frozenset({"choice", "subchoices", "display", "instance_label"})
_END = object()


def leaf_labels(labels: object) -> list[str]:
    """Leaf names of a (nested) label list, in document order. Malformed entries are skipped."""
    return [name for name, _ in leaf_labels_with_instance(labels)]


def leaf_labels_with_instance(labels: object) -> list[tuple[str, bool]]:
    """Leaf names in document order, each with whether it is an instance label.

    [INF] A parent's `instance_label` is inherited by its leaves unless they set their own.
    """
    if not isinstance(labels, ARRAY_TYPES):
        return []
    leaves: list[tuple[str, bool]] = []
    # An explicit stack of (iterator, inherited flag): public callers may hand us
    # arbitrarily deep input.
    stack = [(iter(labels), False)]
    while stack:
        entries, inherited = stack[-1]
        entry = next(entries, _END)
        if entry is _END:
            stack.pop()
        elif isinstance(entry, str):
            if not is_blank(entry):
                leaves.append((entry, inherited))
        elif isinstance(entry, dict):
            flag = entry.get("instance_label", inherited)
            instance = flag if isinstance(flag, bool) else inherited
            if "subchoices" in entry:
                if isinstance(entry["subchoices"], ARRAY_TYPES):
                    stack.append((iter(entry["subchoices"]), instance))
            else:
                choice = entry.get("choice")
                if isinstance(choice, str) and not is_blank(choice):
                    leaves.append((choice, instance))
    return leaves


def count_labels(labels: object) -> int:
    """What the 50-label limit counts: the top-level entries of `labels`.

    [UNCONFIRMED] Scale says "You may include at most 50 labels" about the `labels` array
    itself (§1.1) and does not say whether nested subchoices count. Reading it literally,
    we count the array's own entries; change it here if Scale turns out to count leaves.
    """
    return len(labels) if isinstance(labels, ARRAY_TYPES) else 0


class Leaves:
    """Leaf names of the task, whether each is an instance label, and where each was first
    seen in the current label list.

    A duplicate within one list (segmentation `labels`, one geometry's objects_to_annotate,
    one attribute's choices) is reported; the same name in another list (another geometry)
    is not: Scale's own videoannotation example puts a label under two geometries.
    `open` is set when the project supplies the labels, so references cannot be checked.
    """

    def __init__(self, report: Report, what: str = "label") -> None:
        self.report = report
        self.what = what
        self.instance: dict[str, bool] = {}
        self.open = False
        self.events: set[str] = set()  # video event names: label_condition may name them
        self._first_path: dict[str, str] = {}

    def new_list(self) -> None:
        """Start another label list: names seen so far no longer count as duplicates."""
        self._first_path = {}

    def add(self, name: str, path: str, instance: bool) -> None:
        if name in self._first_path:
            self.report.add(
                path,
                "label.duplicate",
                f"duplicate {self.what} {quote(name)} (also at {self._first_path[name]})",
            )
            return
        self._first_path[name] = path
        self.instance[name] = self.instance.get(name, False) or instance

    def mark_instance(self, name: str) -> None:
        """Legacy `instance_labels`: the name is an instance label (and a leaf)."""
        self.instance[name] = True

    def is_instance(self, name: str) -> bool | None:
        """None when the name is not a known leaf (the project may define it)."""
        return self.instance.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (self.open or name in self.instance)


def check_leaf_references(
    report: Report, labels: Any, path: str, leaves: Leaves, *, empty_code: str, unknown_code: str
) -> None:
    """A non-empty array of leaf names of this task: a linked attribute's `allowed_labels`,
    a link's `from_allowed_labels`/`to_allowed_labels`."""
    if not report.array(labels, path):
        return
    if not labels:
        report.add(path, empty_code, "must list at least one label")
    for i, label in enumerate(labels):
        label_path = index_path(path, i)
        if report.string(label, label_path) and label not in leaves:
            report.add(label_path, unknown_code, f"{quote(label)} is not a leaf label of this task")


def check_label_list(
    report: Report,
    labels: list[Any] | tuple[Any, ...],
    path: str,
    leaves: Leaves,
    *,
    allow_instance: bool,
) -> None:
    """Check every entry of an array already known to be one; collect leaves into `leaves`."""
    _LabelWalker(report, leaves, allow_instance=allow_instance).entries(labels, path, inherited_instance=False, depth=1)


class _LabelWalker:
    def __init__(self, report: Report, leaves: Leaves, *, allow_instance: bool) -> None:
        self.report = report
        self.leaves = leaves
        self.allow_instance = allow_instance

    def entries(self, entries: list[Any] | tuple[Any, ...], path: str, *, inherited_instance: bool, depth: int) -> None:
        report = self.report
        for i, entry in enumerate(entries):
            entry_path = index_path(path, i)
            if isinstance(entry, str):
                if is_blank(entry):
                    report.add(entry_path, "label.name_empty", "label names must not be blank")
                else:
                    self.leaves.add(entry, entry_path, inherited_instance)
            elif isinstance(entry, dict):
                self.description(entry, entry_path, inherited_instance=inherited_instance, depth=depth)
            elif isinstance(entry, ARRAY_TYPES):
                # Reference §1.1: the seed's `"labels": [["vehicle"], ...]` is not a documented form.
                report.add(
                    entry_path,
                    "label.nested_array",
                    "a label cannot be an array; use a string or a LabelDescription object "
                    'such as {"choice": "vehicle", "subchoices": ["car", "truck"]} '
                    "(an example in Scale's documentation shows "
                    '[["vehicle"], ...], which is not a documented label form)',
                )
            else:
                report.add(
                    entry_path,
                    "label.invalid",
                    f"must be a label name (string) or a LabelDescription object, got {describe(entry)}",
                )

    def description(self, desc: dict[Any, Any], path: str, *, inherited_instance: bool, depth: int) -> None:
        report = self.report
        report.unknown_keys(desc, LABEL_FIELDS, path, "a LabelDescription")
        choice_path = key_path(path, "choice")
        name: str | None = None
        if "choice" not in desc:
            report.add(choice_path, "field.required", "is required (the label name)")
        elif report.string(desc["choice"], choice_path):
            if is_blank(desc["choice"]):
                report.add(choice_path, "label.name_empty", "label names must not be blank")
            else:
                name = desc["choice"]
        if "display" in desc:
            report.string(desc["display"], key_path(path, "display"))

        instance = inherited_instance
        if "instance_label" in desc:
            flag_path = key_path(path, "instance_label")
            if not self.allow_instance:
                report.add(flag_path, "label.instance_label_not_allowed", "is only used on segmentannotation labels")
            elif report.boolean(desc["instance_label"], flag_path):
                # [INF] A parent's instance_label is inherited by its leaves unless they override it.
                instance = desc["instance_label"]

        if "subchoices" not in desc:
            if name is not None:
                self.leaves.add(name, choice_path, instance)
            return
        # With subchoices the node is only a navigation step, never a leaf (§3.1).
        sub_path = key_path(path, "subchoices")
        subchoices = desc["subchoices"]
        if not report.array(subchoices, sub_path):
            return
        if not subchoices:
            report.add(
                sub_path, "label.subchoices_empty", "must list at least one label (omit subchoices for a leaf label)"
            )
        elif depth >= MAX_LABEL_DEPTH:
            report.add(sub_path, "labels.too_deep", f"labels may be nested at most {MAX_LABEL_DEPTH} levels deep")
        else:
            self.entries(subchoices, sub_path, inherited_instance=instance, depth=depth + 1)
