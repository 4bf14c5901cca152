"""Task instructions: markdown rendered to HTML, then sanitized with a tight allow-list.

Instructions are written by any workspace member and shown to everyone, so the HTML is an
XSS sink. Two layers: markdown-it never passes raw HTML through (html=False) and refuses
javascript:/vbscript:/file: links, and nh3 (Ammonia) then keeps only the tags, attributes
and URL schemes listed here. No class, style, id or hx-* attribute survives, so injected
markup can neither restyle the page nor drive htmx; templates also wrap it in hx-disable.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
_md.enable("strikethrough")

TAGS = frozenset(
    {
        "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s", "code", "pre",
        "blockquote", "ul", "ol", "li", "a", "img", "table", "thead", "tbody", "tr", "th", "td",
    }
)  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
MAX_INPUT = 100_000  # characters; instructions are a few paragraphs, not books


def render_markdown(text: str) -> str:
    """Safe HTML for a markdown instruction ("" for blank input)."""
    if not text or not text.strip():
        return ""
    html = _md.render(text[:MAX_INPUT])
    return nh3.clean(
        html,
        tags=set(TAGS),
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
        # Relative URLs would resolve against our own origin: an instruction must not make
        # the annotator's browser request dashboard URLs.
        url_relative="deny",
    )
