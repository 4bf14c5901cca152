"""Result files: copied through the guarded fetcher, normalised, turned into a thumbnail."""

from __future__ import annotations

import io
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from annotator.tasks import results
from annotator.tasks.models import ResultFile
from tests.test_callbacks_receiver import fixture, make_task


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def palette_mask() -> bytes:
    # Palette PNG: the stored byte is the label index, the palette says "red".
    img = Image.new("P", (40, 20), 0)
    img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9))
    img.paste(1, (0, 0, 20, 20))
    img.paste(2, (20, 0, 40, 20))
    return png(img)


FILES = {
    "/indexed.png": (palette_mask(), "image/png"),
    "/combined.png": (png(Image.new("RGB", (40, 20), (9, 9, 9))), "image/png"),
    "/street.png": (png(Image.new("RGB", (40, 20), (0, 0, 255))), "image/png"),
    "/road.png": (png(Image.new("RGBA", (40, 20), (255, 0, 0, 255))), "image/png"),
    "/car-1.png": (png(Image.new("RGBA", (40, 20), (0, 0, 255, 200))), "image/png"),
    "/car-2.png": (png(Image.new("RGBA", (40, 20), (0, 0, 255, 100))), "image/png"),
    "/sign.png": (png(Image.new("RGBA", (40, 20), (255, 255, 0, 255))), "image/png"),
    "/unlabeled.png": (png(Image.new("RGBA", (40, 20), (0, 0, 0, 0))), "image/png"),
    "/annotations.json": (json.dumps(fixture("videoannotation-annotations-file.json")).encode(), "application/json"),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body, kind = FILES.get(self.path, (b"missing", "text/plain"))
        self.send_response(200 if self.path in FILES else 404)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def result_host():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def trusted_host(settings, result_host):
    # The loopback server plays a public file host: the operator's FETCH_TRUSTED_URLS is the one
    # way to reach a private address besides the sandbox's own files.
    settings.FETCH_TRUSTED_URLS = [result_host + "/"]
    return result_host


def scale_workspace(workspace, base: str):
    workspace.target = "scale"
    workspace.api_base_url = base + "/v1"
    workspace.save()


def test_it_copies_segmentation_results_and_normalises_the_mask(users, settings, tmp_path, trusted_host):
    result_host = trusted_host
    settings.MEDIA_ROOT = tmp_path
    scale_workspace(users.ws_a, result_host)
    task = make_task(users.ws_a, users.alice, payload={"attachment": f"{result_host}/street.png", "labels": ["a"]})
    task.response = {
        "labelMapping": {"road": {"index": 1, "color": "#ff0000"}, "grass": {"index": 2, "color": "#00ff00"}},
        "annotations": {
            "combined": {"indexedImage": f"{result_host}/indexed.png", "image": f"{result_host}/combined.png"}
        },
    }
    task.save()
    results.copy_results(task)
    files = {f.name: f for f in ResultFile.objects.filter(task=task)}
    assert set(files) == {"indexedImage", "image", "attachment", "mask"}
    assert all(f.path and not f.error for f in files.values())
    mask = Image.open(Path(tmp_path) / files["mask"].path)
    assert mask.mode == "L"
    assert mask.getpixel((5, 5)) == 1 and mask.getpixel((30, 5)) == 2  # indices, not palette colours
    thumb = Image.open(io.BytesIO(results.thumbnail_png(task))).convert("RGB")
    left, right = thumb.getpixel((2, 2)), thumb.getpixel((thumb.width - 3, 2))
    assert left[0] > left[1] and right[1] > right[0]  # red road on the left, green grass on the right
    assert results.viewer_data(task)["sandbox"] is False  # Scale's result: no "made up" note


def test_results_from_the_sandbox_are_told_apart_by_their_urls():
    def files(*urls):
        return [ResultFile(name=str(n), source_url=url) for n, url in enumerate(urls)]

    assert results.from_sandbox(files("http://127.0.0.1:8000/sandbox/results/65a0_indexed.png"))
    assert not results.from_sandbox(files("https://scale-results.s3.amazonaws.com/65a0/indexed.png"))
    # Only the path counts: a look-alike elsewhere in the URL is not the sandbox's.
    assert not results.from_sandbox(files("https://cdn.example.org/x?next=/sandbox/results/a.png"))
    assert not results.from_sandbox([])


def test_it_copies_each_labels_mask_and_the_unlabeled_pixels(users, settings, tmp_path, trusted_host, alice_client):
    result_host = trusted_host
    settings.MEDIA_ROOT = tmp_path
    scale_workspace(users.ws_a, result_host)
    task = make_task(users.ws_a, users.alice, payload={"attachment": f"{result_host}/street.png", "labels": ["a"]})
    task.response = {
        "labelMapping": {"road": {"index": 1, "color": "#ff0000"}},
        "annotations": {
            "combined": {"indexedImage": f"{result_host}/indexed.png"},
            "labeled": {
                "road": f"{result_host}/road.png",
                "car": [f"{result_host}/car-1.png", f"{result_host}/car-2.png"],
                "traffic sign/left": f"{result_host}/sign.png",
                "bicycle": None,  # a label nobody used
            },
            "unlabeled": f"{result_host}/unlabeled.png",
        },
    }
    task.save()
    results.copy_results(task)
    files = {f.name: f for f in ResultFile.objects.filter(task=task)}
    assert set(files) == {
        "indexedImage",
        "attachment",
        "mask",
        "labeled:road",
        "labeled:car:1",
        "labeled:car:2",
        "labeled:traffic sign-left",
        "unlabeled",
    }
    assert all(f.path and not f.error for f in files.values())
    assert Image.open(Path(tmp_path) / files["labeled:car:2"].path).getpixel((0, 0)) == (0, 0, 255, 100)
    # Names become safe file names, distinct ones for distinct labels.
    paths = [f.path for f in files.values()]
    assert len(set(paths)) == len(paths)
    assert all(re.fullmatch(r"results/[0-9a-f]{32}/[A-Za-z0-9_-]+\.png", p) for p in paths)
    # Each copy is served from our storage, under its readable name.
    page = alice_client.get(f"/tasks/{task.code}/").content.decode()
    assert "labeled:traffic sign-left" in page
    got = alice_client.get(f"/tasks/{task.code}/results/labeled:traffic%20sign-left")
    assert got.status_code == 200 and got["Content-Type"] == "image/png"
    assert b"".join(got.streaming_content) == FILES["/sign.png"][0]


def test_it_copies_the_video_annotations_file(users, settings, tmp_path, trusted_host):
    result_host = trusted_host
    settings.MEDIA_ROOT = tmp_path
    scale_workspace(users.ws_a, result_host)
    task = make_task(
        users.ws_a,
        users.alice,
        task_type="videoannotation",
        payload={"attachments": ["https://x/0.png", "https://x/1.png"], "frame_rate": 2},
    )
    task.response = {"annotations": {"url": f"{result_host}/annotations.json"}}
    task.save()
    results.copy_results(task)
    row = ResultFile.objects.get(task=task, name="annotations")
    assert json.loads((Path(tmp_path) / row.path).read_text())[1]["annotations"][0]["left"] == 830
    data = results.viewer_data(task)
    assert data["kind"] == "video" and data["frames"] == ["https://x/0.png", "https://x/1.png"]


def test_it_refuses_private_result_urls_even_on_the_workspaces_own_api_host(users, settings, tmp_path, result_host):
    # Issue 11, medium 5: an owner-set base URL on loopback used to be trusted for every member.
    settings.MEDIA_ROOT = tmp_path
    scale_workspace(users.ws_a, result_host)
    task = make_task(users.ws_a, users.alice, task_type="videoannotation", payload={"attachment": "https://x/v.mp4"})
    task.response = {"annotations": {"url": f"{result_host}/annotations.json"}}
    task.save()
    results.copy_results(task)
    row = ResultFile.objects.get(task=task, name="annotations")
    assert row.path == "" and "private, local or reserved address" in row.error
    assert results.viewer_data(task) is None


def test_the_legend_reads_instance_labels():
    legend = results.label_legend(fixture("callback-segmentannotation-completed.json")["response"])
    assert legend[-1] == {"name": "car #2", "index": 5, "color": "#3cb44b"}
    assert results.label_legend({"labelMapping": "junk"}) == []
