"""What the labeller will see: the tools, the label palette as a tree, the questions per label.

Built from the composed payload for the composer's "labeller's view" panel. Which question is
asked for which label comes from matrix.when_asked (the same linear-time model as the
"When is it asked?" table), so the two never disagree; this module only arranges it the way
an annotation tool shows it. Scale's own tools are not public: this is a faithful reading
of the parameters, not a screenshot of Scale's UI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from annotator.composer.matrix import ALWAYS, CONDITIONAL, NEVER, Matrix
from annotator.scale_rules.report import is_number

MAX_DEPTH = 12  # palette levels drawn (Scale allows fewer; deeper input is cut, not recursed)
MAX_NODES = 2_000  # palette entries drawn per task
_END = object()
_LETTER = {ALWAYS: "a", CONDITIONAL: "c", NEVER: "n"}

GEOMETRY_NAMES = {
    "box": "Box",
    "polygon": "Polygon",
    "line": "Line",
    "point": "Point",
    "cuboid": "Cuboid",
    "ellipse": "Ellipse",
}


@dataclass
class Token:
    """One step of a nested list, flat so a template can draw it without recursion."""

    kind: str  # "leaf", "open" (a parent, its children follow), "close"
    name: str = ""
    display: str = ""


@dataclass
class Tool:
    kind: str
    name: str
    limits: list[str]
    palette: list[Token]


@dataclass
class Question:
    attribute: str
    text: str
    answer: str  # how it is answered: "one of: a, b", "a number from 0 to 10"...
    # When it is asked, one letter per label of LabellerView.labels (a: always, c: under the
    # condition `note`, n: never); "" when the matrix was skipped. Compact on purpose: at the
    # matrix's cap a {label: [state, note]} map per question made the preview 800 KB.
    states: str
    note: str


@dataclass
class LabellerView:
    tools: list[Tool] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    labels: str = "[]"  # JSON list of the leaf labels the questions' states are in the order of
    truncated: bool = False  # the palette was cut at MAX_DEPTH/MAX_NODES


def palette(labels: Any, budget: list[int]) -> tuple[list[Token], bool]:
    """The label list as tokens, in document order, with display names; iterative, bounded."""
    tokens: list[Token] = []
    cut = False
    if not isinstance(labels, list):
        return tokens, cut
    stack: list[Any] = [iter(labels)]
    while stack:
        entry = next(stack[-1], _END)
        if entry is _END:
            stack.pop()
            if stack:
                tokens.append(Token("close"))
            continue
        if budget[0] <= 0:
            cut = True
            continue
        if isinstance(entry, str):
            if entry.strip():
                budget[0] -= 1
                tokens.append(Token("leaf", entry, entry))
        elif isinstance(entry, dict):
            name = entry.get("choice")
            name = name if isinstance(name, str) else ""
            display = entry.get("display")
            display = display if isinstance(display, str) and display.strip() else name
            children = entry.get("subchoices")
            budget[0] -= 1
            if isinstance(children, list):
                if len(stack) > MAX_DEPTH:  # the root list plus MAX_DEPTH groups
                    cut = True
                    continue
                tokens.append(Token("open", name, display or "(unnamed group)"))
                stack.append(iter(children))
            elif name:
                tokens.append(Token("leaf", name, display))
    return tokens, cut


def _limits(kind: str, geometry: dict[str, Any]) -> list[str]:
    limits = []

    def num(key: str) -> Any:
        value = geometry.get(key)
        return value if is_number(value) else None

    if kind in ("box", "cuboid") and (num("min_width") is not None or num("min_height") is not None):
        limits.append(f"at least {num('min_width') or 0} x {num('min_height') or 0} px")
    if kind == "box":
        if geometry.get("can_rotate") is True:
            limits.append("can be rotated")
        if geometry.get("integer_pixels") is True:
            limits.append("whole pixels only")
    if kind in ("polygon", "line"):
        low, high = num("min_vertices"), num("max_vertices")
        if low is not None and high is not None:
            limits.append(f"{low:g} to {high:g} vertices")
        elif low is not None:
            limits.append(f"at least {low:g} vertices")
        elif high is not None:
            limits.append(f"at most {high:g} vertices")
    if kind == "point" and isinstance(geometry.get("connections"), list) and geometry["connections"]:
        count = len(geometry["connections"])
        limits.append(f"{count} connection{'s' if count != 1 else ''} between points")
    if kind == "cuboid" and any(key in geometry for key in ("camera_intrinsics", "camera_rotation_quaternion")):
        limits.append("drawn with the camera's calibration")
    return limits


def _answer(definition: dict[str, Any]) -> str:
    kind = definition.get("type", "category")
    if kind == "category":
        choices, _ = palette(definition.get("choices"), [200])
        names = [token.display for token in choices if token.kind == "leaf"]
        how = "several of" if definition.get("allow_multiple") is True else "one of"
        return f"{how}: {', '.join(names)}" if names else "a choice (none given)"
    if kind == "number":
        low, high = definition.get("min"), definition.get("max")
        if is_number(low) and is_number(high):
            return f"a number from {low:g} to {high:g}"
        return "a number"
    if kind == "linked":
        return "a link to another annotation"
    return {"angle": "an angle", "text": "free text", "x_line": "a vertical line", "y_line": "a horizontal line"}.get(
        str(kind), str(kind)
    )


def labeller_view(task_type: str, payload: dict[str, Any], matrix: Matrix) -> LabellerView:
    view = LabellerView()
    budget = [MAX_NODES]
    if task_type == "segmentannotation":
        tokens, cut = palette(payload.get("labels"), budget)
        view.tools.append(Tool("paint", "Paint (every pixel gets a label)", [], tokens))
        view.truncated |= cut
    else:
        geometries = payload.get("geometries")
        if isinstance(geometries, dict):
            for kind, geometry in geometries.items():
                if not isinstance(geometry, dict):
                    continue
                tokens, cut = palette(geometry.get("objects_to_annotate"), budget)
                name = GEOMETRY_NAMES.get(str(kind), str(kind))
                view.tools.append(Tool(str(kind), name, _limits(kind, geometry), tokens))
                view.truncated |= cut
    attributes = payload.get("annotation_attributes")
    rows = {row.attribute: row for row in matrix.rows}
    view.labels = json.dumps(matrix.labels if rows else [])
    if isinstance(attributes, dict):
        for name, definition in attributes.items():
            if not isinstance(definition, dict):
                continue
            text = definition.get("description")
            text = text if isinstance(text, str) and text.strip() else name
            row = rows.get(name)
            states = note = ""
            if row is not None:
                states = "".join(_LETTER[state] for state, _ in row.cells)
                note = next((cell_note for state, cell_note in row.cells if state == CONDITIONAL), "")
            view.questions.append(Question(name, text, _answer(definition), states, note))
    return view
