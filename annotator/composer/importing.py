"""From a pasted or stored payload to the composer's form, keeping every character.

Two steps, both used by the import box and by "New task from it" in the Library:

- parse_pasted(): the text a person pastes, as JSON or as the Python literal Scale's docs show
  (True/False/None, single quotes, trailing commas, comments, `payload = {...}` or `dict(a=1)`).
  Python is read by walking its syntax tree for plain values only; nothing is ever evaluated.
- import_payload(): what the browser would post for that payload. A key goes into its field
  only if composing the form gives exactly that value back (same types, same characters);
  everything else stays as written under "Other parameters", which is sent unchanged.
"""

from __future__ import annotations

import ast
import json
import warnings
from dataclasses import dataclass, field
from typing import Any

from django import forms

from annotator import inbound
from annotator.composer.forms import LINE_LIST_FIELDS, OMIT, ComposeForm, field_for_key

# A pasted payload is read whole; this bounds the parser's work (Scale's own body limit is far
# below it for the parameters of one task).
MAX_PASTE_CHARS = 2_000_000
MAX_DEPTH = inbound.MAX_JSON_DEPTH

# The JSON shape each builder can draw; a value of another shape is kept under "Other parameters"
# rather than shown as an empty builder.
_BUILDER_SHAPES: dict[str, type] = {
    "labels_json": list,
    "geometries_json": dict,
    "attributes_json": dict,
    "links_json": dict,
    "events_json": list,
    "metadata_json": dict,
    "tags_json": list,
}
_MISSING = object()


class PasteError(ValueError):
    """Why the pasted text could not be read, with where (1-based line and column)."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


def parse_pasted(text: str) -> dict[str, Any]:
    """The one task's parameters in `text` (JSON, or a Python literal as in Scale's docs)."""
    if len(text) > MAX_PASTE_CHARS:
        raise PasteError(f"the pasted text is {len(text):,} characters; at most {MAX_PASTE_CHARS:,} are read")
    if not text.strip():
        raise PasteError('nothing was pasted: paste the task\'s parameters, e.g. {"attachment": "https://…"}')
    try:
        value = json.loads(text)
    except RecursionError:
        raise PasteError(f"the pasted value is nested too deeply (more than {MAX_DEPTH} levels)") from None
    except json.JSONDecodeError as json_error:
        value = _python_value(text, json_error)
    except ValueError as error:  # an integer of more than 4,300 digits
        raise PasteError(str(error)) from None
    if not isinstance(value, dict):
        raise PasteError(f"paste one object, {{…}}: the parameters of one task (this is {_kind(value)})")
    try:
        # Depth, infinities (1e999) and lone surrogates: what could not be stored or sent.
        return inbound.check_json_value(value, "the pasted payload", MAX_DEPTH)
    except inbound.InputError as error:
        raise PasteError(str(error)) from None


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def _python_value(text: str, json_error: json.JSONDecodeError) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes in a docs example are not our problem
            tree = ast.parse(text, mode="exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as python_error:
        raise _better_error(text, json_error, python_error) from None
    node = _payload_node(tree)
    if node is None:
        raise PasteError("no {…} or dict(…) of task parameters found in the pasted code")
    return _literal(node, 1)


def _better_error(text: str, json_error: json.JSONDecodeError, python_error: BaseException) -> PasteError:
    """The error that read further into the text: that is where the paste really goes wrong."""
    if isinstance(python_error, SyntaxError) and python_error.lineno:
        lines = text.splitlines(keepends=True)
        python_pos = sum(len(line) for line in lines[: python_error.lineno - 1]) + (python_error.offset or 1) - 1
        if python_pos > json_error.pos:
            return PasteError(python_error.msg, python_error.lineno, python_error.offset)
    if isinstance(python_error, (MemoryError, RecursionError)):
        return PasteError("the pasted text is nested too deeply to read")
    return PasteError(json_error.msg, json_error.lineno, json_error.colno)


def _payload_node(tree: ast.Module) -> ast.expr | None:
    """The payload in pasted code: the one expression, `payload = …`, or the first dict assigned."""
    candidates: list[ast.expr] = []
    for statement in tree.body:
        if isinstance(statement, ast.Expr):
            candidates.append(statement.value)
        elif isinstance(statement, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == "payload" for t in statement.targets):
                return statement.value
            candidates.append(statement.value)
    if len(tree.body) == 1 and candidates:
        return candidates[0]
    for node in candidates:
        if isinstance(node, ast.Dict) or _is_dict_call(node):
            return node
    return None


def _is_dict_call(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict"


_NAMES = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


def _literal(node: ast.expr, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise PasteError(f"nested more than {MAX_DEPTH} levels deep", node.lineno, node.col_offset + 1)
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool, type(None))):
        return node.value
    if isinstance(node, ast.Dict):
        out: dict[str, Any] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None or not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                where = key or value
                raise PasteError("every key must be a quoted string", where.lineno, where.col_offset + 1)
            out[key.value] = _literal(value, depth + 1)
        return out
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(item, depth + 1) for item in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = node.operand
        if isinstance(operand, ast.Constant) and type(operand.value) in (int, float):
            return -operand.value if isinstance(node.op, ast.USub) else operand.value
    if isinstance(node, ast.Name) and node.id in _NAMES:
        return _NAMES[node.id]
    if _is_dict_call(node) and not node.args and all(k.arg for k in node.keywords):
        return {k.arg: _literal(k.value, depth + 1) for k in node.keywords}
    raise PasteError(
        f"{type(node).__name__.lower()} is not a plain value: only strings, numbers, True/False/None, "
        "lists and dicts are read (nothing is run)",
        node.lineno,
        node.col_offset + 1,
    )


# ---- payload -> form -------------------------------------------------------------------------


@dataclass
class Imported:
    data: dict[str, str]  # what the browser would post, extra_json and key_order included
    in_form: list[str] = field(default_factory=list)  # payload keys shown in the form's fields
    kept: list[str] = field(default_factory=list)  # payload keys kept as written under "Other parameters"


def import_payload(task_type: str, payload: dict[str, Any]) -> Imported:
    """The form data that composes back to exactly `payload` (see the module docstring)."""
    from annotator.composer.compose import compose  # compose imports the forms this module builds on

    form = ComposeForm(task_type=task_type)
    data: dict[str, str] = {}
    kept: list[str] = []
    for key, value in payload.items():
        name = field_for_key(key)
        posted = _posted(name, form.fields[name], value) if name in form.fields else None
        if posted is None:
            kept.append(key)
        else:
            data[name] = posted
    if "attachment_type" in form.fields and "attachment_type" not in payload:
        data["attachment_type"] = OMIT  # no inferred attachment_type that was not there
    data["key_order"] = json.dumps(list(payload), ensure_ascii=False)
    while True:
        extras = {key: payload[key] for key in payload if key in kept}
        data["extra_json"] = json.dumps(extras, ensure_ascii=False, indent=2) if extras else ""
        composed = compose(task_type, data, check_media=False).payload  # the payload only
        wrong = [key for key in payload if key not in kept and not same(composed.get(key, _MISSING), payload[key])]
        if not wrong:
            break
        for key in wrong:  # the form would change it: keep it as written instead
            data.pop(field_for_key(key) or "", None)
            kept.append(key)
    in_form = [key for key in payload if key not in kept]
    return Imported(data=data, in_form=in_form, kept=[key for key in payload if key in kept])


def _posted(name: str, field: forms.Field, value: Any) -> str | None:
    """How a browser would post `value` in field `name`, or None if the field cannot show it."""
    if isinstance(field, forms.JSONField):
        shape = _BUILDER_SHAPES.get(name)
        if shape is not None and not isinstance(value, shape):
            return None
        if name == "labels_json" and not all(isinstance(item, (str, dict)) for item in value):
            return None
        if name in ("tags_json", "events_json") and not all(isinstance(item, str) for item in value):
            return None
        return json.dumps(value, ensure_ascii=False)
    if name in LINE_LIST_FIELDS:
        urls = value if name == "attachments" else _context_urls(value)
        if not isinstance(urls, list) or not urls or not all(_one_line(url) for url in urls):
            return None
        return "\n".join(urls)
    if isinstance(field, forms.NullBooleanField):
        return ("true" if value else "false") if isinstance(value, bool) else None
    if isinstance(field, (forms.FloatField, forms.IntegerField, forms.TypedChoiceField)):
        return repr(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if isinstance(field, forms.ChoiceField):
        return value if isinstance(value, str) and value != OMIT and value in dict(field.choices) else None
    if isinstance(field, forms.CharField) and isinstance(value, str):
        # An <input> drops line breaks; a <textarea> turns a lone CR into LF.
        single_line = not isinstance(field.widget, forms.Textarea)
        if "\r" in value or (single_line and "\n" in value):
            return None
        return value
    return None


def _context_urls(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, dict) and list(item) == ["attachment"] for item in value):
        return None
    return [item["attachment"] for item in value]


def _one_line(url: Any) -> bool:
    return isinstance(url, str) and url == url.strip() and url != "" and "\n" not in url and "\r" not in url


def same(a: Any, b: Any) -> bool:
    """Equal as JSON text would be: same types (1 is not 1.0, True is not 1), same key order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def initial_for(data: dict[str, str], form: ComposeForm) -> dict[str, Any]:
    """`data` as an unbound form's initial values (JSON fields take values, not JSON text)."""
    initial: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(form.fields.get(name), forms.JSONField):
            initial[name] = json.loads(value) if value else None
        else:
            initial[name] = value
    return initial
