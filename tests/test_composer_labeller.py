"""The labeller's view: palette trees, tools with limits, questions with when they are asked."""

from __future__ import annotations

import json

from django.template.loader import render_to_string

from annotator.composer import compose as composing
from annotator.composer import labeller
from annotator.composer.matrix import when_asked


def view(task_type: str, payload: dict) -> labeller.LabellerView:
    matrix = when_asked(composing.leaf_labels(task_type, payload), payload.get("annotation_attributes"))
    return labeller.labeller_view(task_type, payload, matrix)


def test_segmentation_palette_is_the_label_tree_with_display_names():
    shown = view(
        "segmentannotation",
        {
            "labels": [
                "road",
                {"choice": "vehicle", "display": "Vehicles", "subchoices": [{"choice": "car", "display": "Car"}]},
            ]
        },
    )
    (tool,) = shown.tools
    assert [(t.kind, t.name, t.display) for t in tool.palette] == [
        ("leaf", "road", "road"),
        ("open", "vehicle", "Vehicles"),
        ("leaf", "car", "Car"),
        ("close", "", ""),
    ]


def test_video_tools_have_their_limits_and_questions_know_when_they_are_asked():
    payload = {
        "geometries": {
            "box": {"objects_to_annotate": ["car"], "min_width": 4, "can_rotate": True},
            "line": {"objects_to_annotate": ["lane"], "max_vertices": 20},
        },
        "annotation_attributes": {
            "moving": {"choices": ["yes", "no"], "conditions": {"label_condition": {"label": "car"}}},
            "speed": {
                "type": "number",
                "min": 0,
                "max": 90,
                "conditions": {"attribute_conditions": [{"moving": "yes"}]},
            },
        },
    }
    shown = view("videoannotation", payload)
    assert [(t.name, t.limits) for t in shown.tools] == [
        ("Box", ["at least 4 x 0 px", "can be rotated"]),
        ("Line", ["at most 20 vertices"]),
    ]
    moving, speed = shown.questions
    assert moving.answer == "one of: yes, no" and speed.answer == "a number from 0 to 90"
    assert json.loads(shown.labels) == ["car", "lane"]
    assert (moving.states, moving.note) == ("an", "")
    assert (speed.states, speed.note) == ("cn", "if moving is yes")


def test_a_hostile_palette_is_cut_not_recursed():
    deep: list = ["leaf"]
    for _ in range(50_000):
        deep = [{"choice": "g", "subchoices": deep}]
    tokens, cut = labeller.palette(deep, [labeller.MAX_NODES])
    assert cut and sum(t.kind == "open" for t in tokens) == labeller.MAX_DEPTH
    assert sum(t.kind == "open" for t in tokens) == sum(t.kind == "close" for t in tokens)
    wide, cut = labeller.palette([f"l{i}" for i in range(100_000)], [labeller.MAX_NODES])
    assert cut and len(wide) == labeller.MAX_NODES


def test_at_the_matrix_cap_the_panel_stays_small():
    labels = [f"label{i}" for i in range(50)]
    attributes = {}
    for i in range(200):
        attribute = {"choices": ["yes", "no"], "description": f"Question {i}?"}
        if i:
            attribute["conditions"] = {"attribute_conditions": [{f"a{i - 1}": "yes"}, {f"a{i - 1}": "no"}]}
        attributes[f"a{i}"] = attribute
    shown = view(
        "videoannotation", {"geometries": {"box": {"objects_to_annotate": labels}}, "annotation_attributes": attributes}
    )
    html = render_to_string("composer/_labeller.html", {"labeller": shown, "task_type": "videoannotation"})
    assert len(shown.questions) == 200 and all(len(q.states) == 50 for q in shown.questions)
    assert len(html) < 100_000  # a per-question {label: [state, note]} map made this 800 KB
