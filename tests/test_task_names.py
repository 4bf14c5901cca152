"""Tasks a person can recognise: a name (theirs, else the attachment's file name, else
the unique_id) and a thumbnail, in the table, the task page title and email subjects."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from annotator.tasks import thumbnails
from annotator.tasks.models import ResultFile, Task, attachment_name
from tests.test_callbacks_receiver import make_task


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://cdn.example.org/streets/street-1.png", "street-1.png"),
        ("https://cdn.example.org/a%20b/Front%20door.jpg?X-Amz-Signature=abc", "Front door.jpg"),
        ("s3://bucket/scenes/0001.jpg", "0001.jpg"),
        ("scaledata://12345/clip", "clip"),
        ("https://cdn.example.org/", ""),
        ("https://cdn.example.org", ""),
        ("", ""),
        ("http://[::1", ""),  # malformed: no name, no error
    ],
)
def test_the_attachment_name_is_the_last_path_segment(url, name):
    assert attachment_name(url) == name


def test_the_name_is_the_users_else_the_file_name_else_the_unique_id(users):
    task = make_task(users.ws_a, users.alice, unique_id="uid-1")
    assert task.display_name == "a.png"
    task.name = "Front of the shop"
    assert task.display_name == "Front of the shop"
    bare = make_task(users.ws_a, users.alice, unique_id="uid-2", payload={"attachment": "https://x.org/", "labels": []})
    assert bare.display_name == "uid-2"
    frames = make_task(
        users.ws_a,
        users.alice,
        unique_id="uid-3",
        task_type="videoannotation",
        payload={"attachments": ["https://x.org/f/000.jpg", "https://x.org/f/001.jpg"], "geometries": {}},
    )
    assert frames.display_name == "000.jpg"


def test_the_table_and_the_task_page_show_the_name_and_a_thumbnail(alice_client, users):
    task = make_task(users.ws_a, users.alice, unique_id="dash:seg:000123")
    page = alice_client.get("/tasks/").content.decode()
    assert '<span class="task-name">a.png</span>' in page
    assert f'src="/tasks/{task.code}/thumbnail.png"' in page
    assert "dash:seg:000123" in page  # still there, under the name
    detail = alice_client.get(f"/tasks/{task.code}/").content.decode()
    assert "<title>a.png · Segmentation task" in detail
    assert '<h1 class="task-title">a.png</h1>' in detail


def test_a_member_names_a_task_on_its_page(alice_client, users):
    task = make_task(users.ws_a, users.alice)
    response = alice_client.post(f"/tasks/{task.code}/name/", {"name": "  Shop   front\n"}, follow=True)
    assert "Named “Shop front”." in response.content.decode()
    task.refresh_from_db()
    assert task.name == "Shop front" and task.payload.get("name") is None  # never sent to Scale
    assert '<span class="task-name">Shop front</span>' in alice_client.get("/tasks/").content.decode()

    too_long = alice_client.post(f"/tasks/{task.code}/name/", {"name": "x" * 201}, follow=True)
    assert "at most 200 characters; this one has 201. Nothing changed." in too_long.content.decode()
    task.refresh_from_db()
    assert task.name == "Shop front"

    cleared = alice_client.post(f"/tasks/{task.code}/name/", {"name": ""}, follow=True)
    assert "Name removed: the task is shown as “a.png”." in cleared.content.decode()


def test_another_workspace_cannot_rename_or_see_the_thumbnail(client, users):
    task = make_task(users.ws_a, users.alice)
    client.force_login(users.charlie)
    assert client.post(f"/tasks/{task.code}/name/", {"name": "mine now"}).status_code == 404
    assert client.get(f"/tasks/{task.code}/thumbnail.png").status_code == 404
    task.refresh_from_db()
    assert task.name == ""


def png(size=(640, 400), color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def image_of(response) -> Image.Image:
    return Image.open(io.BytesIO(b"".join(response.streaming_content) if response.streaming else response.content))


def test_the_thumbnail_is_a_placeholder_until_the_job_draws_it(alice_client, users, tmp_path, live_server, settings):
    # The attachment is served over real HTTP by the sandbox's demo media.
    settings.SITE_URL = live_server.url
    task = make_task(users.ws_a, users.alice, payload={"attachment": f"{live_server.url}/sandbox/media/street-1.png"})
    first = alice_client.get(f"/tasks/{task.code}/thumbnail.png")
    assert first["Content-Type"] == "image/png" and first["X-Thumbnail"] == "pending"
    assert image_of(first).size == (1, 1)
    assert thumbnails.wanted(task)

    thumbnails.make(task)  # what the job does
    assert not thumbnails.wanted(task)
    second = alice_client.get(f"/tasks/{task.code}/thumbnail.png")
    assert "X-Thumbnail" not in second and second["X-Content-Type-Options"] == "nosniff"
    assert image_of(second).size == (160, 100)  # 640x400 scaled into 160x120


def test_a_completed_segmentation_shows_its_mask_over_the_image(alice_client, users, tmp_path):
    task = make_task(
        users.ws_a,
        users.alice,
        scale_status="completed",
        response={"labelMapping": {"road": {"index": 1, "color": "#00ff00"}}, "annotations": {}},
    )
    folder = tmp_path / "results" / task.code.hex
    folder.mkdir(parents=True)
    (folder / "attachment.png").write_bytes(png(color=(0, 0, 0)))
    (folder / "mask.png").write_bytes(_mask())
    for name in ("attachment", "mask"):
        ResultFile.objects.create(
            task=task, name=name, path=f"results/{task.code.hex}/{name}.png", content_type="image/png"
        )
    thumbnails.make(task)
    thumb = image_of(alice_client.get(f"/tasks/{task.code}/thumbnail.png")).convert("RGB")
    r, g, _ = thumb.getpixel((10, 10))
    assert g > 100 and r < 50  # green road over a black image: the result, not the bare attachment


def _mask() -> bytes:
    out = io.BytesIO()
    Image.new("L", (640, 400), 1).save(out, "PNG")
    return out.getvalue()


def test_an_attachment_that_cannot_be_fetched_is_tried_once(alice_client, users):
    task = make_task(users.ws_a, users.alice, payload={"attachment": "http://127.0.0.1:9/never.png"})
    assert thumbnails.make(task) is None
    assert not thumbnails.wanted(task)  # a marker: no job per page view
    assert alice_client.get(f"/tasks/{task.code}/thumbnail.png")["X-Thumbnail"] == "pending"


@pytest.mark.parametrize("name", ["traffic.mp4", "traffic.webm"])
def test_a_video_file_gets_its_first_frame_decoded(alice_client, users, live_server, settings, name):
    # The sandbox's demo videos, over real HTTP, read with a Range request and decoded by PyAV.
    settings.SITE_URL = live_server.url
    task = make_task(
        users.ws_a,
        users.alice,
        task_type="videoplaybackannotation",
        payload={"attachment": f"{live_server.url}/sandbox/media/{name}", "geometries": {}},
    )
    assert task.display_name == name
    assert thumbnails.wanted(task)
    thumbnails.make(task)
    assert not thumbnails.wanted(task)
    response = alice_client.get(f"/tasks/{task.code}/thumbnail.png")
    assert "X-Thumbnail" not in response
    thumb = image_of(response).convert("RGB")
    assert thumb.size == (160, 120)  # 320x240 scaled into 160x120
    # The traffic scene: sky above, road below, not a blank frame.
    sky, road = thumb.getpixel((80, 5)), thumb.getpixel((80, 115))
    assert sky != road and len(set(thumb.getdata())) > 5


@pytest.mark.parametrize(
    "content",
    [b"<html>not a video</html>", b"\x00\x00\x00\x18ftypisom" + b"\x00" * 200, b"\x1a\x45\xdf\xa3junk" * 10, b""],
)
def test_a_video_that_cannot_be_decoded_is_tried_once_and_shows_its_type(alice_client, users, tmp_path, content):
    task = make_task(
        users.ws_a,
        users.alice,
        task_type="videoplaybackannotation",
        payload={"attachment": "https://x.org/clip.mp4", "geometries": {}},
    )
    folder = tmp_path / "results" / task.code.hex
    folder.mkdir(parents=True)
    (folder / "attachment.mp4").write_bytes(content)
    ResultFile.objects.create(task=task, name="attachment", path=f"results/{task.code.hex}/attachment.mp4")
    assert thumbnails.make(task) is None
    assert not thumbnails.wanted(task)  # a marker: no job per page view
    assert alice_client.get(f"/tasks/{task.code}/thumbnail.png")["X-Thumbnail"] == "pending"


def test_the_email_subject_names_the_task(users):
    from annotator.tasks import emails

    task = make_task(users.ws_a, users.alice)
    Task.objects.filter(pk=task.pk).update(name="Shop front")
    task.refresh_from_db()
    msg = emails.make_message(
        "task_status", "alice@example.org", {"task": task, "status": "completed", "user": users.alice, "url": "u"}
    )
    assert msg.subject == "Completed: Shop front (segmentation)"
    assert "“Shop front” (dash:seg:street_000123) is complete" in msg.body
