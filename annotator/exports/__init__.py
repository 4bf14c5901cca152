"""Exports: a selection of tasks turned into the files training code reads.

Pure functions and plain classes: a task's payload, response and copied result
files go in, files come out. Nothing here imports Django or opens a socket, so
the converters are tested on their own and the benchmark runs them without a
server. The export job (annotator/exports/jobs.py) reads the rows and calls
`archive.write_export`; the views only start jobs and show their progress.

Formats (keys of FORMATS), each a folder of the zip:

    scale              tasks.jsonl (task + response per line) and the copied result files
    coco               COCO instance segmentation, RLE masks (segmentation tasks)
    segmentation_mask  PNG index masks + labelmap.txt, CVAT's "Segmentation mask" layout
    coco_panoptic      COCO panoptic PNGs + JSON (segmentation tasks)
    mot                MOT gt.txt per video, as CVAT writes it (box tracks)
    cvat_video         CVAT for video 1.1 XML per video (tracks, keyframes, attributes, events)
    coco_video         one COCO file with an image per frame (box tracks of video tasks)
"""

from __future__ import annotations

FORMATS: dict[str, str] = {
    "scale": "Scale's own: JSON Lines of task + response, and the result files",
    "coco": "COCO instance segmentation (RLE masks)",
    "segmentation_mask": "PNG index masks + labelmap.txt (CVAT Segmentation mask)",
    "coco_panoptic": "COCO panoptic (PNG + JSON)",
    "mot": "MOT gt.txt per video (CVAT's MOT 1.1)",
    "cvat_video": "CVAT for video 1.1 XML per video",
    "coco_video": "COCO boxes, one image per video frame",
}
SEGMENTATION_FORMATS = ("coco", "segmentation_mask", "coco_panoptic")
VIDEO_FORMATS = ("mot", "cvat_video", "coco_video")
