"""The cells of one "when is it asked?" row, rendered in Python.

A 50 x 50 table is 2,500 cells; through the template language's loop that alone took about
200 ms per preview. Here each distinct cell is formatted (and escaped) once and reused.
"""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from annotator.composer.matrix import ALWAYS, CONDITIONAL, Row

register = template.Library()
_TEXT = {ALWAYS: "asked", CONDITIONAL: "if…"}


@register.simple_tag
def matrix_cells(row: Row) -> SafeString:
    formatted: dict[tuple[str, str], SafeString] = {}
    for cell in row.cells:
        if cell not in formatted:
            state, note = cell
            formatted[cell] = format_html('<td class="cell-{}" title="{}">{}</td>', state, note, _TEXT.get(state, "—"))
    # Each value is a SafeString escaped above: joining them needs no second escape per cell.
    return mark_safe("".join([formatted[cell] for cell in row.cells]))  # noqa: S308 (escaped by format_html)
