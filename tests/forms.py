"""Submit a page's form as a browser would, over plain HTTP: what the server rendered
into it (inputs, checked boxes, selected options, textareas), plus the pressed button.

For tests that cross pages without Chromium (the fresh-install smoke test, outages).
"""

from __future__ import annotations

from html.parser import HTMLParser

_NOT_SENT = {"submit", "button", "reset", "image", "file"}


class _FormParser(HTMLParser):
    def __init__(self, form_id: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.depth = 0  # >0 while inside the wanted form
        self.found = False
        self.fields: list[tuple[str, str]] = []
        self._textarea: tuple[str, list[str]] | None = None
        self._select: tuple[str, list[tuple[str, bool]], bool] | None = None
        self._option: tuple[str | None, bool, list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            if self.depth:
                self.depth += 1
            elif not self.found and (self.form_id is None or a.get("id") == self.form_id):
                self.depth, self.found = 1, True
            return
        if not self.depth or "disabled" in a:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in _NOT_SENT:
                return
            if kind in {"checkbox", "radio"}:
                if "checked" in a:
                    self.fields.append((name, a.get("value") if a.get("value") is not None else "on"))
                return
            self.fields.append((name, a.get("value") or ""))
        elif tag == "textarea" and name:
            self._textarea = (name, [])
        elif tag == "select" and name:
            self._select = (name, [], "multiple" in a)
        elif tag == "option" and self._select is not None:
            self._option = (a.get("value"), "selected" in a, [])

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1].append(data)
        if self._option is not None:
            self._option[2].append(data)

    def _close_option(self) -> None:
        if self._option is not None and self._select is not None:
            value, selected, text = self._option
            self._select[1].append((value if value is not None else "".join(text).strip(), selected))
        self._option = None

    def handle_endtag(self, tag):
        if tag == "form" and self.depth:
            self.depth -= 1
        elif tag == "textarea" and self._textarea is not None:
            name, parts = self._textarea
            text = "".join(parts)
            # A browser drops the one newline that follows <textarea>.
            self.fields.append((name, text[1:] if text.startswith("\n") else text))
            self._textarea = None
        elif tag == "option":
            self._close_option()
        elif tag == "select" and self._select is not None:
            self._close_option()
            name, options, multiple = self._select
            chosen = [v for v, selected in options if selected]
            if not chosen and options and not multiple:
                chosen = [options[0][0]]
            self.fields.extend((name, v) for v in chosen)
            self._select = None


def form_fields(html: str, form_id: str | None = None) -> list[tuple[str, str]]:
    """The (name, value) pairs a browser would send for the form (the first one, or the one with this id)."""
    parser = _FormParser(form_id)
    parser.feed(html)
    parser.close()
    if not parser.found:
        raise AssertionError(f"no form{f' #{form_id}' if form_id else ''} on the page")
    return parser.fields
