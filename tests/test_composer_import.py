"""The import: pasted text (JSON or Scale's documented Python dicts) to the composer's form and back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotator.composer.compose import compose
from annotator.composer.importing import PasteError, import_payload, parse_pasted

# The three "Request" samples of Scale's documentation, as printed (Python literals), copied from
# the docs text the project started from so the test runs on any machine.
DOCS_SAMPLES = Path(__file__).parent / "fixtures" / "scale" / "docs_request_samples.txt"
DOCS_EXAMPLE = """payload = {
"instruction": "**Instructions:** Please label all the things",
"attachment": "https://i.imgur.com/iDZcXfS.png",
'attachment_type': 'image',   # single quotes, and a comment
"allow_unlabeled": False,
"labels": ["car", "road",],
"clear_unique_id_on_error": True,
"batch": None,
"tags": ["tag", "tag2"],
}
"""


def test_it_reads_the_python_dict_of_scales_docs_as_written():
    assert parse_pasted(DOCS_EXAMPLE) == {
        "instruction": "**Instructions:** Please label all the things",
        "attachment": "https://i.imgur.com/iDZcXfS.png",
        "attachment_type": "image",
        "allow_unlabeled": False,
        "labels": ["car", "road"],
        "clear_unique_id_on_error": True,
        "batch": None,
        "tags": ["tag", "tag2"],
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("{'a': (1, 2), 'b': -3.5, 'c': +2}", {"a": [1, 2], "b": -3.5, "c": 2}),
        ("{'a': true, 'b': false, 'c': null,}", {"a": True, "b": False, "c": None}),  # JSON words, Python commas
        (
            "dict(attachment='https://e.org/a.png', labels=['car'])",
            {"attachment": "https://e.org/a.png", "labels": ["car"]},
        ),
        # A whole code sample: the dict assigned to `payload` is read, nothing is imported or run.
        ("import os\nAPI_KEY = os.environ['K']\npayload = {'a': 1}\nrequests.post(url, json=payload)\n", {"a": 1}),
    ],
)
def test_it_reads_python_literals_and_json(text, expected):
    assert parse_pasted(text) == expected


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ('{\n  "a": 1,\n  "b": five\n}', "line 3, column 8", "not a plain value"),
        ('{\n  "a": 1\n  "b": 2\n}', "line 3, column 3", "Expecting ',' delimiter"),
        ("{'a': __import__('os').system('echo pwned')}", "line 1, column 7", "not a plain value"),
        ("{'a': [i for i in range(10**9)]}", "line 1, column 7", "not a plain value"),
        ("{'a': 1 + 2}", "line 1, column 7", "not a plain value"),
        ("{1: 'a'}", "line 1, column 2", "every key must be a quoted string"),
        ("['car']", "", "paste one object"),
        ("   ", "", "nothing was pasted"),
        ("{'a': 1e999}", "", "not finite"),
        ("{'a': '\\ud800'}", "", "surrogate"),
        ("{'a': " + "[" * 150 + "]" * 150 + "}", "", "nest"),
    ],
)
def test_what_cannot_be_read_is_refused_with_where_it_failed(text, where, what):
    with pytest.raises(PasteError) as caught:
        parse_pasted(text)
    assert str(caught.value).startswith(where)
    assert what in str(caught.value)


def test_a_huge_paste_is_refused_before_it_is_parsed():
    with pytest.raises(PasteError, match="at most"):
        parse_pasted("{'a': '" + "x" * 3_000_000 + "'}")


def test_the_requests_examples_of_the_docs_text_import_as_they_are_printed():
    text = DOCS_SAMPLES.read_text()
    # The `payload = {` block of each "Request" sample, up to its closing brace, as a user copies it.
    blocks = []
    for start in [i for i in range(len(text)) if text.startswith("payload = {", i)]:
        end = text.index("\n}\n# Set up the headers", start) + 2
        blocks.append(text[start:end])
    assert len(blocks) == 3
    for block, task_type in zip(
        blocks, ("segmentannotation", "videoannotation", "videoplaybackannotation"), strict=True
    ):
        payload = parse_pasted(block)
        assert payload["instruction"] == "**Instructions:** Please label all the things"
        imported = import_payload(task_type, payload)
        assert compose(task_type, imported.data).payload == payload


def test_the_import_view_keeps_a_paste_it_cannot_read_and_the_form_it_came_with(alice_client, users):
    pasted = "payload = {\n  'attachment': 'https://e.org/v.mp4',\n  'frame_rate': five,\n}"
    response = alice_client.post(
        "/compose/videoannotation/", {"action": "import", "import_json": pasted, "instruction": "  kept as typed"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "line 3, column 17" in page and 'aria-invalid="true"' in page
    assert ">\n" + pasted.replace("'", "&#x27;") + "</textarea>" in page
    assert ">\n  kept as typed</textarea>" in page


def test_the_import_view_reads_the_docs_python_dict(alice_client, users):
    response = alice_client.post("/compose/segmentannotation/", {"action": "import", "import_json": DOCS_EXAMPLE})
    page = response.content.decode()
    assert "Imported all 8 parameters; 1 kept as written under “Other parameters”: batch" in page
    assert json.dumps({"batch": None}, indent=2).replace('"', "&quot;") in page


def test_duplicate_from_a_task_page_says_it_is_a_copy_not_an_import_or_a_validation(alice_client, users):
    """The task page's "Duplicate / edit as new" opened the composer with "Imported all 4 parameters." and "Valid: ...
    Nothing was created." though the person had pasted and validated nothing."""
    from tests.test_callbacks_receiver import make_task

    payload = {"attachment": "https://example.org/street.png", "labels": ["road", "car"], "project": "p"}
    task = make_task(users.ws_a, users.alice, task_type="segmentannotation", payload=payload)
    detail = alice_client.get(f"/tasks/{task.code}/").content.decode()
    assert f'name="duplicate_of" value="{task.display_name}"' in detail

    response = alice_client.post(
        "/compose/segmentannotation/",
        {"action": "import", "import_json": json.dumps(payload), "duplicate_of": task.display_name},
    )
    page = response.content.decode()
    assert f"A copy of “{task.display_name}” to edit: submitting it makes a new task" in page
    assert "Imported all" not in page and "Nothing was created" not in page
    # A paste still says what it imported, and "Validate only" still says it created nothing.
    pasted = alice_client.post("/compose/segmentannotation/", {"action": "import", "import_json": json.dumps(payload)})
    assert "Imported all 3 parameters." in pasted.content.decode()
    assert "Nothing was created" not in pasted.content.decode()
