"""The composer pages: preview, validate only, submit, import and the library."""

from __future__ import annotations

import json

import pytest

from annotator import scale_rules
from annotator.composer.models import AttributeSet, GeometryPreset, LabelSet, TaskTemplate
from annotator.tasks.models import Task, TaskEvent

VALID_SEGMENTATION = {
    "callback_url": "https://hooks.example.org/scale",
    "attachment": "https://example.org/street.png",
    "labels_json": json.dumps(["car", {"choice": "person", "display": "Pedestrian"}]),
    "tags_json": json.dumps(["a"]),
    "instruction": "# Hello\n\n<script>alert(1)</script>",
}


@pytest.fixture
def ws(users):
    users.ws_a.default_project = "default-project"
    users.ws_a.save()
    return users.ws_a


def test_the_chooser_explains_each_task_type(alice_client, ws):
    page = alice_client.get("/compose/").content.decode()
    for task_type in scale_rules.TASK_TYPES:
        assert f'href="/compose/{task_type}/"' in page
    assert "Every pixel of one image gets a label" in page


def test_a_new_form_starts_with_the_workspace_defaults(alice_client, ws):
    page = alice_client.get("/compose/segmentannotation/").content.decode()
    assert 'value="default-project"' in page
    assert f'value="{ws.callback_url}"' in page
    assert 'hx-post="/compose/segmentannotation/preview/"' in page


def test_an_unknown_task_type_is_not_found(alice_client, ws):
    assert alice_client.get("/compose/imageannotation/").status_code == 404


def test_the_preview_shows_the_payload_the_snippets_and_errors_with_paths(alice_client, ws):
    response = alice_client.post("/compose/segmentannotation/preview/", {**VALID_SEGMENTATION, "tags_json": "[1]"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "<code>tags[0]</code> must be a string" in page
    assert (
        'id="issues-tags_json" hx-swap-oob="true"><p class="error" data-path="tags[0]">tags[0]: must be a string'
    ) in page
    assert "TaskType.SegmentAnnotation" in page and "curl -sS" in page
    assert 'data-count="2"' in page  # scale_rules.count_labels, through an out-of-band swap
    # The instruction is rendered and sanitized, inside an hx-disable wrapper.
    assert '<div class="markdown" hx-disable><h1>Hello</h1>' in page
    assert "<script>alert" not in page


def test_the_preview_counts_metadata_bytes_as_the_rules_module_does(alice_client, ws):
    metadata = {"name": "é" * 10}
    response = alice_client.post("/compose/segmentannotation/preview/", {"metadata_json": json.dumps(metadata)})
    assert f'data-bytes="{scale_rules.metadata_size(metadata)}"' in response.content.decode()


def test_validate_only_creates_nothing_and_says_valid(alice_client, ws):
    response = alice_client.post("/compose/segmentannotation/", {**VALID_SEGMENTATION, "action": "validate"})
    assert response.status_code == 200
    assert "Valid: Scale's rules find nothing wrong. Nothing was created." in response.content.decode()
    assert Task.objects.count() == 0


def test_errors_appear_next_to_their_fields_and_the_form_keeps_what_was_typed(alice_client, ws):
    data = {**VALID_SEGMENTATION, "attachment": "not-a-url", "frame_rate": "x", "project": "kept", "action": "submit"}
    data["labels_json"] = json.dumps([f"label {i}" for i in range(51)])
    response = alice_client.post("/compose/segmentannotation/", data)
    page = response.content.decode()
    assert Task.objects.count() == 0
    assert "1 problem to fix; nothing was created." in page
    assert "1 warning</strong>: Scale may well accept these" in page
    assert (
        '<div class="issues" id="issues-attachment"><p class="warning" data-path="attachment">'
        '<span class="sr-only">Warning: </span>'
    ) in page
    assert (
        '<div class="issues" id="issues-labels_json"><p class="error" data-path="labels">'
        "at most 50 labels are allowed (got 51)"
    ) in page
    # The field with the error is marked for screen readers; the one with a warning is not.
    assert 'data-target="id_labels_json" role="group" aria-describedby="issues-labels_json"' in page
    assert 'aria-describedby="issues-attachment help-attachment"' in page
    assert 'aria-invalid="true"' not in page.split('id="id_attachment"')[0].rsplit("<input", 1)[-1]
    assert 'value="kept"' in page and 'value="not-a-url"' in page
    assert "label 50" in page  # the builder's hidden field still holds all 51 labels


def test_submit_creates_a_queued_task_with_exactly_the_previewed_payload(alice_client, ws, users):
    preview = alice_client.post("/compose/segmentannotation/preview/", VALID_SEGMENTATION).content.decode()
    response = alice_client.post("/compose/segmentannotation/", {**VALID_SEGMENTATION, "action": "submit"})
    assert response.status_code == 302
    task = Task.objects.get()
    assert task.state == Task.State.QUEUED and task.workspace == ws and task.created_by == users.alice
    assert scale_rules.validate("segmentannotation", task.payload) == []
    sent = dict(task.payload)
    assert sent.pop("unique_id") == task.unique_id
    import html
    import re

    shown = re.search(r'<pre id="payload-json">(.*?)</pre>', preview, re.S).group(1)
    assert json.loads(html.unescape(shown)) == sent
    assert TaskEvent.objects.filter(task=task, kind=TaskEvent.Kind.COMPOSED).exists()


def test_without_a_callback_the_workspace_webhook_is_used_and_the_preview_says_so(alice_client, ws):
    data = {**VALID_SEGMENTATION, "callback_url": ""}
    preview = alice_client.post("/compose/segmentannotation/preview/", data).content.decode()
    assert "this workspace's webhook is added at submit" in preview
    alice_client.post("/compose/segmentannotation/", {**data, "action": "submit"})
    assert Task.objects.get().payload["callback_url"] == ws.callback_url


def test_submit_keeps_a_unique_id_given_in_the_form(alice_client, ws):
    alice_client.post("/compose/segmentannotation/", {**VALID_SEGMENTATION, "unique_id": "mine-1", "action": "submit"})
    assert Task.objects.get().payload["unique_id"] == "mine-1"


def test_import_fills_the_form_and_keeps_the_rest_as_written(alice_client, ws):
    payload = {"attachment": "https://e.org/a.png", "labels": ["car", "road"], "frame_rate": 5, "mystery": {"x": 1}}
    response = alice_client.post(
        "/compose/segmentannotation/", {"action": "import", "import_json": json.dumps(payload)}
    )
    page = response.content.decode()
    assert 'value="https://e.org/a.png"' in page
    assert "[&quot;car&quot;, &quot;road&quot;]" in page  # the labels builder's hidden field
    assert "Imported all 4 parameters; 2 kept as written under “Other parameters”: frame_rate, mystery" in page
    assert "&quot;mystery&quot;: {" in page  # in the Other parameters box, sent as is
    assert Task.objects.count() == 0


def test_import_of_text_that_cannot_be_read_says_where_and_keeps_the_text(alice_client, ws):
    pasted = '{\n  "attachment": "https://e.org/v.mp4",\n  "frame_rate": five\n}'
    response = alice_client.post(
        "/compose/videoannotation/", {"action": "import", "import_json": pasted, "project": "kept-project"}
    )
    page = response.content.decode()
    assert "could not be read: line 3, column 17" in page
    assert ">\n" + pasted.replace('"', "&quot;") + "</textarea>" in page  # the text stays in its box
    assert 'value="kept-project"' in page  # and the rest of the form as it was


def test_saving_a_template_keeps_everything_but_the_per_task_fields(alice_client, ws):
    data = {**VALID_SEGMENTATION, "unique_id": "u-1", "action": "save_template", "library_name": "Streets"}
    alice_client.post("/compose/segmentannotation/", data)
    template = TaskTemplate.objects.get(workspace=ws, name="Streets")
    assert template.task_type == "segmentannotation"
    assert "attachment" not in template.payload and "unique_id" not in template.payload
    assert template.payload["labels"] == ["car", {"choice": "person", "display": "Pedestrian"}]
    # Saving again under the same name edits the template instead of failing.
    alice_client.post("/compose/segmentannotation/", {**data, "labels_json": '["bus"]'})
    template.refresh_from_db()
    assert template.payload["labels"] == ["bus"] and TaskTemplate.objects.count() == 1


def test_a_new_task_starts_from_a_template(alice_client, ws):
    payload = {"geometries": {"box": {"objects_to_annotate": ["car"]}}, "frame_rate": 2}
    template = TaskTemplate.objects.create(workspace=ws, name="Cars", task_type="videoannotation", payload=payload)
    page = alice_client.get(f"/compose/library/templates/{template.code}/").content.decode()
    assert "Started from the template “Cars”" in page
    assert 'name="frame_rate" value="2"' in page
    assert "objects_to_annotate" in page


def test_editing_a_template_never_changes_tasks_made_from_it(alice_client, ws):
    alice_client.post(
        "/compose/segmentannotation/", {**VALID_SEGMENTATION, "action": "save_template", "library_name": "T"}
    )
    template = TaskTemplate.objects.get()
    from annotator.composer.importing import import_payload

    data = import_payload("segmentannotation", template.payload).data
    alice_client.post("/compose/segmentannotation/", {**data, "attachment": "https://e.org/1.png", "action": "submit"})
    task = Task.objects.get()
    before = json.loads(json.dumps(task.payload))
    template.payload = {**template.payload, "labels": ["changed"]}
    template.save()
    alice_client.post(f"/compose/library/templates/{template.code}/delete/")
    task.refresh_from_db()
    assert task.payload == before and task.payload["labels"] == ["car", {"choice": "person", "display": "Pedestrian"}]
    assert not TaskTemplate.objects.exists()


def test_label_sets_presets_and_attribute_sets_are_saved_listed_and_deleted(alice_client, ws):
    video = {
        "attachment": "https://e.org/v.mp4",
        "geometries_json": json.dumps({"cuboid": {"objects_to_annotate": ["truck"]}}),
        "attributes_json": json.dumps({"moving": {"description": "Moving?", "choices": ["y", "n"]}}),
        "library_name": "Trucks",
    }
    alice_client.post("/compose/videoannotation/", {**video, "action": "save_preset"})
    alice_client.post("/compose/videoannotation/", {**video, "action": "save_attributeset"})
    alice_client.post(
        "/compose/segmentannotation/", {**VALID_SEGMENTATION, "action": "save_labelset", "library_name": "L"}
    )
    preset = GeometryPreset.objects.get(name="Trucks")
    assert preset.geometries == {"cuboid": {"objects_to_annotate": ["truck"]}}
    assert AttributeSet.objects.get(name="Trucks").attributes["moving"]["choices"] == ["y", "n"]
    assert LabelSet.objects.get(name="L").labels == ["car", {"choice": "person", "display": "Pedestrian"}]
    library = alice_client.get("/compose/library/").content.decode()
    assert "Trucks" in library and ">L<" in library
    # The composer embeds them for the "From the library" menus.
    composer = alice_client.get("/compose/videoannotation/").content.decode()
    embedded = json.loads(
        composer.split('<script id="composer-library" type="application/json">')[1].split("</script>")[0]
    )
    assert embedded["geometries"] == [{"name": "Trucks", "value": preset.geometries}]
    alice_client.post(f"/compose/library/geometry-presets/{preset.code}/delete/")
    assert not GeometryPreset.objects.exists()


def test_saving_without_a_name_asks_for_one(alice_client, ws):
    response = alice_client.post("/compose/segmentannotation/", {**VALID_SEGMENTATION, "action": "save_labelset"})
    assert "Give the library item a name." in response.content.decode()
    assert not LabelSet.objects.exists()


def test_another_workspace_cannot_use_or_see_the_library(client, users):
    template = TaskTemplate.objects.create(workspace=users.ws_a, name="Secret", task_type="segmentannotation")
    client.force_login(users.charlie)
    assert client.get(f"/compose/library/templates/{template.code}/").status_code == 404
    assert "Secret" not in client.get("/compose/library/").content.decode()
    assert client.post(f"/compose/library/templates/{template.code}/delete/").status_code == 404
    assert TaskTemplate.objects.filter(pk=template.pk).exists()


def test_the_media_proxy_refuses_internal_addresses(alice_client, ws):
    response = alice_client.get("/compose/media/", {"url": "http://169.254.169.254/latest/meta-data/"})
    assert response.status_code == 502
    assert "private, local or reserved address" in response.content.decode()


def test_a_template_can_be_renamed_but_not_onto_another_ones_name(alice_client, ws):
    first = TaskTemplate.objects.create(workspace=ws, name="One", task_type="segmentannotation")
    TaskTemplate.objects.create(workspace=ws, name="Two", task_type="segmentannotation")
    alice_client.post(f"/compose/library/templates/{first.code}/rename/", {"name": "Uno"})
    first.refresh_from_db()
    assert first.name == "Uno"
    response = alice_client.post(f"/compose/library/templates/{first.code}/rename/", {"name": "Two"}, follow=True)
    first.refresh_from_db()
    assert first.name == "Uno"
    assert "Another template is already called “Two”." in response.content.decode()


def test_a_draft_keeps_only_the_composers_fields_per_person_and_type(alice_client, ws, users):
    from django.test import Client

    from annotator.composer.models import Draft

    response = alice_client.post(
        "/compose/segmentannotation/draft/",
        {"instruction": "  kept", "labels_json": '["car"]', "import_json": "{}", "sneaky": "x", "action": "submit"},
    )
    assert response.status_code == 200 and response.json()["saved"] is True
    draft = Draft.objects.get(user=users.alice, task_type="segmentannotation")
    assert draft.data == {"instruction": "  kept", "labels_json": '["car"]'}
    assert Task.objects.count() == 0  # a draft is never a submit
    page = alice_client.get("/compose/segmentannotation/").content.decode()
    assert "Restored your draft from" in page and ">\n  kept</textarea>" in page
    # Bob, in the same workspace, starts from a blank form; the other task types too.
    bob = Client()
    bob.force_login(users.bob)
    assert "Restored your draft" not in bob.get("/compose/segmentannotation/").content.decode()
    assert "Restored your draft" not in alice_client.get("/compose/videoannotation/").content.decode()
    # A submit that goes through clears the draft.
    alice_client.post("/compose/segmentannotation/", {**VALID_SEGMENTATION, "action": "submit"})
    assert not Draft.objects.filter(user=users.alice).exists()


def test_a_draft_too_large_to_keep_is_refused_and_discard_needs_a_post(alice_client, ws, settings):
    from annotator.composer.models import Draft

    settings.COMPOSER_MAX_BYTES = 1000
    response = alice_client.post("/compose/segmentannotation/draft/", {"instruction": "x" * 5000})
    assert response.status_code == 413 and response.json()["saved"] is False
    assert not Draft.objects.exists()
    assert alice_client.get("/compose/segmentannotation/draft/discard/").status_code == 405


def test_an_omitted_geometry_the_project_must_define_is_said_before_anyone_touches_it(alice_client, ws):
    """The sample video alone, in a workspace with a default project: Scale takes `geometries` from
    the project, and the sandbox refused the first submit because the project did not define them
    while the preview said nothing (geometries had not been touched)."""
    data = {
        "attachment": "https://example.org/traffic.mp4",
        "project": "default-project",
        "touched_fields": "attachment",
    }
    preview = alice_client.post("/compose/videoplaybackannotation/preview/", data).content.decode()
    assert 'id="preview-warnings"' in preview
    assert "Scale takes it from the params of project" in preview
    assert 'id="preview-errors"' not in preview  # a warning: never stricter than Scale
    # Another untouched field's problem still waits quietly.
    data.pop("project")
    quiet = alice_client.post("/compose/videoplaybackannotation/preview/", data).content.decode()
    assert "Still to fill in" in quiet and 'id="preview-errors"' not in quiet
