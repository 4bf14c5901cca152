"""The Library as a place to work: edit in the composer, versions, uses, copies, export/import, undo."""

from __future__ import annotations

import json

import pytest

from annotator.composer.importing import import_payload
from annotator.composer.models import (
    AttributeSet,
    GeometryPreset,
    LabelSet,
    TaskTemplate,
    TemplateUse,
    TemplateVersion,
)
from annotator.tasks.models import Task

pytestmark = pytest.mark.django_db

SEG = {
    "callback_url": "https://hooks.example.org/scale",
    "labels_json": json.dumps(["car", "road"]),
    "instruction": "Paint cars.",
}


def save_template(client, name: str = "Streets", **changes) -> TaskTemplate:
    client.post("/compose/segmentannotation/", {**SEG, **changes, "action": "save_template", "library_name": name})
    return TaskTemplate.objects.get(name=name)


def edit_form(template: TaskTemplate, **changes) -> dict[str, str]:
    """What the composer posts when a template opened for editing is saved back."""
    data = import_payload(template.task_type, template.payload).data
    return {**data, **changes, "library_item": f"templates:{template.code}", "action": "save_item"}


def test_saving_a_changed_template_keeps_every_version_and_restoring_is_a_new_version(alice_client, users):
    template = save_template(alice_client)
    assert list(template.versions.values_list("number", flat=True)) == [1]
    # The same content again is no new version; a change is.
    save_template(alice_client)
    assert template.versions.count() == 1
    response = alice_client.post("/compose/segmentannotation/", edit_form(template, instruction="Paint buses."))
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.payload["instruction"] == "Paint buses." and TaskTemplate.objects.count() == 1
    v1, v2 = template.versions.order_by("number")
    assert (v1.payload["instruction"], v2.payload["instruction"]) == ("Paint cars.", "Paint buses.")
    assert v2.saved_by == users.alice and v2.note == "edited in the composer"

    page = alice_client.get(f"/compose/library/templates/{template.code}/versions/").content.decode()
    assert 'id="version-2"' in page and 'id="version-1"' in page and "alice" in page
    assert "<code>instruction</code>" in page  # what changed from the version before

    alice_client.post(f"/compose/library/templates/{template.code}/versions/1/restore/")
    template.refresh_from_db()
    assert template.payload["instruction"] == "Paint cars."
    assert list(template.versions.values_list("number", "note")) == [
        (3, "restored version 1"),
        (2, "edited in the composer"),
        (1, "saved from the composer"),
    ]
    assert alice_client.post(f"/compose/library/templates/{template.code}/versions/9/restore/").status_code == 404


def test_label_sets_presets_and_attribute_sets_open_in_the_composer_and_save_back_to_the_same_item(alice_client, users):
    labels = LabelSet.objects.create(workspace=users.ws_a, name="Street labels", labels=["car"])
    page = alice_client.get(f"/compose/library/label-sets/{labels.code}/edit/").content.decode()
    assert "Editing the label set" in page and "Street labels" in page
    assert 'data-draft-url=""' in page  # editing an item never overwrites the person's draft
    # Saving is offered where the form ends too, not only at the top (found walking it as a user).
    assert 'id="save-item-bottom"' in page and "Save changes to this label set</button>" in page
    alice_client.post(
        "/compose/segmentannotation/",
        {"labels_json": '["car", "bus"]', "library_item": f"label-sets:{labels.code}", "action": "save_item"},
    )
    labels.refresh_from_db()
    assert labels.labels == ["car", "bus"] and LabelSet.objects.count() == 1

    preset = GeometryPreset.objects.create(
        workspace=users.ws_a, name="Boxes", task_type="videoplaybackannotation", geometries={"box": {}}
    )
    page = alice_client.get(f"/compose/library/geometry-presets/{preset.code}/edit/").content.decode()
    assert 'data-task-type="videoplaybackannotation"' in page
    geometries = {"box": {"objects_to_annotate": ["car"], "min_height": 5}}
    alice_client.post(
        "/compose/videoplaybackannotation/",
        {
            "geometries_json": json.dumps(geometries),
            "library_item": f"geometry-presets:{preset.code}",
            "action": "save_item",
        },
    )
    preset.refresh_from_db()
    assert preset.geometries == geometries

    attrs = AttributeSet.objects.create(workspace=users.ws_a, name="Q", attributes={})
    assert (
        alice_client.get(f"/compose/library/attribute-sets/{attrs.code}/edit/?type=videoannotation").status_code == 200
    )
    new = {"moving": {"description": "Moving?", "choices": ["yes", "no"]}}
    alice_client.post(
        "/compose/videoannotation/",
        {"attributes_json": json.dumps(new), "library_item": f"attribute-sets:{attrs.code}", "action": "save_item"},
    )
    attrs.refresh_from_db()
    assert attrs.attributes == new


def test_the_library_says_where_each_item_is_used(alice_client, users):
    template = save_template(alice_client)
    LabelSet.objects.create(workspace=users.ws_a, name="Same", labels=["car", "road"])
    LabelSet.objects.create(workspace=users.ws_a, name="Other", labels=["tree"])
    # A task submitted from the template is counted, with the version it came from.
    data = import_payload("segmentannotation", template.payload).data
    alice_client.post(
        "/compose/segmentannotation/",
        {**data, "attachment": "https://e.org/1.png", "from_template": str(template.code), "action": "submit"},
    )
    use = TemplateUse.objects.get()
    assert use.task == Task.objects.get() and use.template_code == template.code and use.version == 1
    page = alice_client.get("/compose/library/").content.decode()
    assert "1 task made from it" in page and "1 version" in page
    assert "The same labels as 1 template: Streets" in page
    assert "No template has exactly these labels" in page
    # The starting page carries the link, so a task made from it is counted.
    started = alice_client.get(f"/compose/library/templates/{template.code}/").content.decode()
    assert f'name="from_template" value="{template.code}"' in started


def test_a_task_from_another_workspaces_template_code_is_made_but_not_linked(client, users):
    template = TaskTemplate.objects.create(workspace=users.ws_a, name="A", task_type="segmentannotation")
    client.force_login(users.charlie)
    client.post(
        "/compose/segmentannotation/",
        {**SEG, "attachment": "https://e.org/1.png", "from_template": str(template.code), "action": "submit"},
    )
    assert Task.objects.filter(workspace=users.ws_b).count() == 1 and not TemplateUse.objects.exists()


def test_duplicate_makes_a_free_name_and_keeps_the_original(alice_client, users):
    template = save_template(alice_client)
    alice_client.post(f"/compose/library/templates/{template.code}/duplicate/")
    alice_client.post(f"/compose/library/templates/{template.code}/duplicate/")
    names = sorted(TaskTemplate.objects.values_list("name", flat=True))
    assert names == ["Streets", "Streets (copy)", "Streets (copy) (2)"]
    copy = TaskTemplate.objects.get(name="Streets (copy)")
    assert copy.payload == template.payload and copy.versions.count() == 1
    labels = LabelSet.objects.create(workspace=users.ws_a, name="L", labels=["a"])
    alice_client.post(f"/compose/library/label-sets/{labels.code}/duplicate/")
    assert LabelSet.objects.get(name="L (copy)").labels == ["a"]


def test_a_deleted_item_comes_back_with_undo_versions_and_task_count_included(alice_client, users):
    template = save_template(alice_client)
    alice_client.post("/compose/segmentannotation/", edit_form(template, instruction="v2"))
    task = Task.objects.create(workspace=users.ws_a, task_type="segmentannotation", payload={})
    TemplateUse.objects.create(task=task, template_code=template.code, version=2)
    code = template.code
    alice_client.post(f"/compose/library/templates/{code}/delete/")
    assert not TaskTemplate.objects.exists()
    page = alice_client.get("/compose/library/").content.decode()
    assert "Deleted the template “Streets”" in page
    token = page.split("/compose/library/undo/")[1].split("/")[0]
    alice_client.post(f"/compose/library/undo/{token}/")
    back = TaskTemplate.objects.get()
    assert back.code == code and back.name == "Streets" and back.payload["instruction"] == "v2"
    assert list(back.versions.values_list("number", flat=True)) == [2, 1]
    assert "1 task made from it" in alice_client.get("/compose/library/").content.decode()
    # Undo works once.
    alice_client.post(f"/compose/library/undo/{token}/")
    assert TaskTemplate.objects.count() == 1


def test_export_then_import_into_another_workspace_with_a_dry_run_and_renames(client, alice_client, users):
    save_template(alice_client)
    LabelSet.objects.create(workspace=users.ws_a, name="L", labels=["car"])
    GeometryPreset.objects.create(workspace=users.ws_a, name="G", task_type="videoannotation", geometries={"box": {}})
    AttributeSet.objects.create(
        workspace=users.ws_a, name="A", attributes={"q": {"description": "Q", "choices": ["y"]}}
    )
    response = alice_client.get("/compose/library/export/")
    assert response["Content-Disposition"].startswith("attachment;")
    document = json.loads(response.content)
    assert document["format"] == "annotator-library"
    assert sorted(item["kind"] for item in document["items"]) == [
        "attribute_set", "geometry_preset", "label_set", "template"
    ]  # fmt: skip

    # Workspace B already has a template called "Streets": it is never replaced.
    TaskTemplate.objects.create(workspace=users.ws_b, name="Streets", task_type="videoannotation", payload={"x": 1})
    document["items"].append({"kind": "label_set", "name": "Broken", "labels": "not a list"})
    document["items"].append({"kind": "recipe", "name": "?"})
    client.force_login(users.charlie)
    text = json.dumps(document)
    dry = client.post("/compose/library/import/", {"text": text, "action": "preview"}).content.decode()
    assert "“Streets” as <strong>“Streets (2)”</strong>" in dry
    assert "“labels” must be a JSON list" in dry and "unknown kind &#x27;recipe&#x27;" in dry
    assert "Import 4 items" in dry
    assert TaskTemplate.objects.filter(workspace=users.ws_b).count() == 1  # a dry run changes nothing

    client.post("/compose/library/import/", {"text": text, "action": "import"})
    old = TaskTemplate.objects.get(workspace=users.ws_b, name="Streets")
    assert old.payload == {"x": 1}
    imported = TaskTemplate.objects.get(workspace=users.ws_b, name="Streets (2)")
    assert imported.payload == TaskTemplate.objects.get(workspace=users.ws_a).payload
    # Its history came along: one version, the same content, saying who saved it where it came from.
    assert imported.versions.get().note == "saved from the composer (by alice)"
    assert LabelSet.objects.get(workspace=users.ws_b).labels == ["car"]
    assert GeometryPreset.objects.get(workspace=users.ws_b).task_type == "videoannotation"
    assert AttributeSet.objects.filter(workspace=users.ws_b).count() == 1
    assert not LabelSet.objects.filter(name="Broken").exists()


def test_a_templates_versions_travel_with_its_export(client, alice_client, users):
    template = save_template(alice_client)
    alice_client.post("/compose/segmentannotation/", edit_form(template, instruction="Paint buses."))
    alice_client.post(f"/compose/library/templates/{template.code}/versions/1/restore/")
    TemplateVersion.objects.filter(template=template, number=1).update(saved_at="2026-01-02T03:04:05Z")
    response = alice_client.get("/compose/library/export/")
    # "Export all" is the library's file even when it holds one item; one item asked for is named after it.
    safe = "".join(ch if ch.isalnum() else "-" for ch in users.ws_a.name)
    assert response["Content-Disposition"] == f'attachment; filename="library-{safe}.json"'
    one = alice_client.get(f"/compose/library/export/?item=templates:{template.code}")
    assert one["Content-Disposition"] == 'attachment; filename="Streets.json"'
    document = json.loads(response.content)
    (item,) = document["items"]
    assert [v["number"] for v in item["versions"]] == [1, 2, 3] and item["versions"][0]["saved_by"] == "alice"
    # A damaged entry, a per-task field inside a version, and a date in the future.
    item["versions"].insert(1, {"payload": "not an object", "task_type": "segmentannotation"})
    item["versions"][0]["payload"]["attachment"] = "https://example.org/one-image-only.png"
    item["versions"][2]["saved_at"] = "2999-01-01T00:00:00Z"

    client.force_login(users.charlie)
    text = json.dumps(document)
    dry = client.post("/compose/library/import/", {"text": text, "action": "preview"}).content.decode()
    assert "1 of its versions could not be read and was left out" in dry
    client.post("/compose/library/import/", {"text": text, "action": "import"})

    copy = TaskTemplate.objects.get(workspace=users.ws_b)
    assert copy.payload == TaskTemplate.objects.get(pk=template.pk).payload
    versions = list(copy.versions.order_by("number"))
    assert [v.payload["instruction"] for v in versions] == ["Paint cars.", "Paint buses.", "Paint cars."]
    assert [v.note for v in versions] == [
        "saved from the composer (by alice)", "edited in the composer (by alice)", "restored version 1 (by alice)"
    ]  # fmt: skip
    assert "attachment" not in versions[0].payload  # a template holds no per-task fields
    assert versions[0].saved_at.isoformat().startswith("2026-01-02T03:04:05")
    assert versions[1].saved_at.year < 2999  # a date in the future is not believed
    assert all(v.saved_by is None for v in versions)  # alice is not a member of workspace B
    # The history works as history there: version 2 can be restored.
    client.post(f"/compose/library/templates/{copy.code}/versions/2/restore/")
    copy.refresh_from_db()
    assert copy.payload["instruction"] == "Paint buses." and copy.versions.count() == 4


@pytest.mark.parametrize(
    "text, message",
    [
        ("{", "is not valid JSON"),
        ('{"format": "other", "items": []}', "not a library export"),
        ('"x"', "an object with an"),
        ("[" + "[" * 5000 + "]" * 5000 + "]", "nests too deeply"),
        ("[" + "[" * 150 + "]" * 150 + "]", "nests more than 103 levels"),
        ('[{"kind": "label_set", "name": "\\ud800", "labels": []}]', "unpaired surrogate"),
        ('[{"kind": "label_set", "name": "n", "labels": [NaN]}]', "NaN is not a JSON number"),
    ],
)
def test_an_unreadable_import_is_a_clear_400(alice_client, text, message):
    response = alice_client.post("/compose/library/import/", {"text": text, "action": "preview"})
    assert response.status_code == 400 and message in response.content.decode()


def test_an_uploaded_file_is_read_like_pasted_text(alice_client, users):
    from django.core.files.uploadedfile import SimpleUploadedFile

    body = json.dumps({"format": "annotator-library", "items": [{"kind": "label_set", "name": "F", "labels": ["a"]}]})
    upload = SimpleUploadedFile("lib.json", body.encode(), content_type="application/json")
    page = alice_client.post("/compose/library/import/", {"file": upload, "action": "preview"}).content.decode()
    assert "Label set <strong>“F”</strong>" in page


def test_every_item_url_is_a_404_for_a_member_of_another_workspace(client, users):
    template = TaskTemplate.objects.create(workspace=users.ws_a, name="Secret", task_type="segmentannotation")
    template.keep_version(users.alice)
    items = {
        "templates": template,
        "label-sets": LabelSet.objects.create(workspace=users.ws_a, name="S", labels=["a"]),
        "geometry-presets": GeometryPreset.objects.create(workspace=users.ws_a, name="S", geometries={}),
        "attribute-sets": AttributeSet.objects.create(workspace=users.ws_a, name="S", attributes={}),
    }
    client.force_login(users.charlie)
    for slug, item in items.items():
        assert client.get(f"/compose/library/{slug}/{item.code}/edit/").status_code == 404
        assert client.post(f"/compose/library/{slug}/{item.code}/duplicate/").status_code == 404
        assert client.get(f"/compose/library/export/?item={slug}:{item.code}").status_code == 404
        saved = client.post(
            "/compose/segmentannotation/",
            {**SEG, "library_item": f"{slug}:{item.code}", "action": "save_item"},
        )
        assert saved.status_code == 404
    base = f"/compose/library/templates/{template.code}"
    assert client.get(f"{base}/versions/").status_code == 404
    assert client.post(f"{base}/versions/1/restore/").status_code == 404
    assert client.post(f"{base}/delete/").status_code == 404
    assert client.post(f"{base}/rename/", {"name": "x"}).status_code == 404
    assert client.get("/compose/library/edit-nothing/").status_code == 404
    assert client.get(f"/compose/library/recipes/{template.code}/edit/").status_code == 404
    # Nothing of A leaks into B's export or changed.
    assert json.loads(client.get("/compose/library/export/").content)["items"] == []
    assert TaskTemplate.objects.get().name == "Secret" and TemplateVersion.objects.count() == 1
    assert LabelSet.objects.get().labels == ["a"] and LabelSet.objects.count() == 1


def test_a_bulk_run_counts_its_tasks_against_the_template_and_version(users, django_capture_on_commit_callbacks):
    from annotator.submission import bulk

    template = TaskTemplate.objects.create(
        workspace=users.ws_a, name="Bulk", task_type="segmentannotation", payload={"labels": ["car"]}
    )
    template.keep_version(users.alice)
    template.payload = {"labels": ["car", "bus"]}
    template.save()
    template.keep_version(users.alice)
    rows = b"attachment\nhttps://example.org/1.png\nhttps://example.org/2.png\n"
    with django_capture_on_commit_callbacks(execute=False):
        group = bulk.submit_plan(bulk.plan(users.ws_a, template, rows, "rows.csv"), users.alice)
    uses = TemplateUse.objects.filter(task__group=group)
    assert uses.count() == 2 and {(u.template_code, u.version) for u in uses} == {(template.code, 2)}


def test_a_draft_begun_from_a_template_still_counts_towards_it(alice_client, users):
    template = save_template(alice_client)
    data = import_payload("segmentannotation", template.payload).data
    alice_client.post("/compose/segmentannotation/draft/", {**data, "from_template": str(template.code)})
    page = alice_client.get("/compose/segmentannotation/").content.decode()
    assert "Restored your draft" in page and f'name="from_template" value="{template.code}"' in page
    # Another workspace's code is not kept.
    other = TaskTemplate.objects.create(workspace=users.ws_b, name="B", task_type="segmentannotation")
    alice_client.post("/compose/segmentannotation/draft/", {**data, "from_template": str(other.code)})
    assert 'name="from_template"' not in alice_client.get("/compose/segmentannotation/").content.decode()


def test_a_copy_of_an_item_with_the_longest_name_still_fits(alice_client, users):
    long = "n" * 200
    labels = LabelSet.objects.create(workspace=users.ws_a, name=long, labels=["a"])
    alice_client.post(f"/compose/library/label-sets/{labels.code}/duplicate/")
    alice_client.post(f"/compose/library/label-sets/{labels.code}/duplicate/")
    names = sorted(LabelSet.objects.exclude(pk=labels.pk).values_list("name", flat=True))
    first = "n" * 193 + " (copy)"
    assert names == sorted([first, first[:196] + " (2)"])  # each cut to 200 characters, never refused
