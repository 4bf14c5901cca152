"""`links` between annotations (§3.4) and `events_to_annotate` (§3.5)."""

from __future__ import annotations

from typing import Any

from .labels import Leaves, check_leaf_references
from .report import ARRAY_TYPES, Report, describe, index_path, key_path, quote

_LINK_FIELDS = frozenset({"is_bidirectional", "from_allowed_labels", "to_allowed_labels"})


def check_links(report: Report, links: Any, path: str, leaves: Leaves) -> None:
    if not report.object(links, path):
        return
    for name, value in links.items():
        link_path = key_path(path, name)
        definition = value
        # Reference §3.4: the prose says the value is an object, the docs example wraps it in
        # a one-element array, and which one the server takes is unconfirmed: accept both.
        if isinstance(definition, ARRAY_TYPES) and len(definition) == 1:
            definition = definition[0]
            link_path = index_path(link_path, 0)
        if isinstance(definition, dict):
            _check_link(report, definition, link_path, leaves)
        else:
            report.add(
                link_path,
                "link.shape",
                "must be a link definition object {is_bidirectional, from_allowed_labels, "
                "to_allowed_labels} (or a one-element array holding one), "
                f"got {describe(definition)}",
            )


def _check_link(report: Report, link: dict[Any, Any], path: str, leaves: Leaves) -> None:
    report.unknown_keys(link, _LINK_FIELDS, path, "a link")
    if "is_bidirectional" in link:
        report.boolean(link["is_bidirectional"], key_path(path, "is_bidirectional"))
    for field in ("from_allowed_labels", "to_allowed_labels"):
        field_path = key_path(path, field)
        if field not in link:
            report.add(field_path, "field.expected", "is expected (an array of leaf labels)")
            continue
        check_leaf_references(
            report, link[field], field_path, leaves, empty_code="link.labels_empty", unknown_code="link.unknown_label"
        )


def check_events(report: Report, events: Any, path: str) -> None:
    # Reference §1.3: the seed types playback events_to_annotate as int32; it is an array of
    # event names, as for videoannotation.
    if not report.array(events, path, hint=" of event names (strings)"):
        return
    seen: dict[str, str] = {}
    for i, event in enumerate(events):
        event_path = index_path(path, i)
        if not report.string(event, event_path, non_empty=True):
            continue
        if event in seen:
            report.add(event_path, "events.duplicate", f"duplicate event {quote(event)} (also at {seen[event]})")
        else:
            seen[event] = event_path
