"""The composer's Django forms: scalar fields plus the hidden JSON fields the builders fill."""

from __future__ import annotations

import json
import math
from typing import Any

from django import forms

from annotator import inbound, scale_rules
from annotator.composer.models import PER_TASK_FIELDS
from annotator.tasks.models import UNIQUE_ID_MAX_LENGTH

# attachment_type's choice for "send no attachment_type at all", so an imported payload
# without one comes back without one (build_payload otherwise writes the inferred value).
OMIT = "omit"
TRI_STATE = [("unknown", "Scale's default"), ("true", "Yes"), ("false", "No")]


class NumberField(forms.FloatField):
    """A JSON number: 30 stays an integer in the payload, 29.97 a float."""

    def to_python(self, value: Any) -> int | float | None:
        number = super().to_python(value)
        if number is None:
            return None
        if not math.isfinite(number):
            raise forms.ValidationError("Enter a finite number.")
        # "2" is an integer; "2.0" and "2e3" are written as floats, so they come back as written.
        return int(number) if number.is_integer() and not any(c in str(value) for c in ".eE") else number


def _tri_state(label: str, help_text: str) -> forms.NullBooleanField:
    return forms.NullBooleanField(
        required=False, label=label, help_text=help_text, widget=forms.Select(choices=TRI_STATE)
    )


class BuilderJSONField(forms.JSONField):
    """JSON in a hidden field or a text box; empty shows as empty, not as "null".

    Parsed with annotator.inbound, so deep nesting, a 5,000-digit number or a lone surrogate
    is a form error next to the field instead of a 500 (Django's own catches only syntax errors).
    """

    def to_python(self, value: Any) -> Any:
        if not isinstance(value, str) or value in self.empty_values or self.disabled:
            return super().to_python(value)
        try:
            parsed = inbound.loads(value, what="this field")
        except inbound.InputError as error:
            message = str(error)
            raise forms.ValidationError(message[0].upper() + message[1:] + ".", code="invalid") from None
        return forms.fields.JSONString(parsed) if isinstance(parsed, str) else parsed

    def bound_data(self, data: Any, initial: Any) -> Any:
        if not isinstance(data, str) or self.disabled:
            return super().bound_data(data, initial)
        try:
            return inbound.loads(data)
        except inbound.InputError:
            return forms.fields.InvalidJSONInput(data)  # shown back as typed

    def prepare_value(self, value: Any) -> Any:
        return "" if value is None else super().prepare_value(value)


class OtherParametersField(BuilderJSONField):
    """The "Other parameters" box: shown indented, since people read and edit it by hand."""

    def prepare_value(self, value: Any) -> Any:
        if value is None or isinstance(value, forms.fields.InvalidJSONInput):
            return super().prepare_value(value)
        return json.dumps(value, ensure_ascii=False, indent=2, cls=self.encoder)


def _json(label: str, *, widget: forms.Widget | None = None, help_text: str = "") -> forms.JSONField:
    return BuilderJSONField(required=False, label=label, widget=widget or forms.HiddenInput, help_text=help_text)


def _url_lines(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        required=False,
        label=label,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
    )


# Which payload key each form field fills, and which fields a builder owns. The error mapping,
# the import and the library all read these, so a new field is added in one place.
FIELD_TO_KEY: dict[str, str] = {
    "labels_json": "labels",
    "geometries_json": "geometries",
    "attributes_json": "annotation_attributes",
    "links_json": "links",
    "events_json": "events_to_annotate",
    "metadata_json": "metadata",
    "tags_json": "tags",
    "hypothesis_json": "hypothesis",
    "base_annotations_json": "base_annotations",
}
KEY_TO_FIELD = {key: field for field, key in FIELD_TO_KEY.items()}
# Fields that are not a payload key of their own.
FORM_ONLY_FIELDS = ("extra_json", "key_order")


def field_for_key(key: str) -> str | None:
    """The form field that shows payload key `key`, if any (a key named like a field is not one)."""
    name = KEY_TO_FIELD.get(key, key)
    if name in FORM_ONLY_FIELDS or FIELD_TO_KEY.get(name, name) != key:
        return None
    return name


LINE_LIST_FIELDS = ("attachments", "context_attachments")
BASE_FLAG_HELP = {
    "can_add_base_annotations": "May the annotator draw new annotations next to the ones you provide?",
    "can_edit_base_annotations": "May the annotator move or reshape your annotations? No locks every aspect of them.",
    "can_edit_base_annotation_labels": "May the annotator change the label of your annotations? No locks the labels.",
    "can_delete_base_annotations": "May the annotator delete your annotations? No keeps every one of them.",
}


class ComposeForm(forms.Form):
    project = forms.CharField(required=False, max_length=200, help_text="The Scale project the task belongs to.")
    batch = forms.CharField(required=False, max_length=200, help_text="Optional: a batch of that project.")
    instruction = forms.CharField(
        required=False,
        # Kept exactly as typed or imported: four leading spaces make a markdown code block.
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Markdown: headings, lists, links and images. Shown to the annotator above the task.",
    )
    callback_url = forms.CharField(
        required=False,
        label="Callback",
        help_text="Where Scale reports the result: this workspace's webhook by default, or an email address.",
    )
    attachment_type = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Work it out from what is filled in"),
            ("video", "video: one video file (attachment)"),
            ("image", "image: a list of frames (attachments)"),
            (OMIT, "Leave it out (Scale's default)"),
        ],
    )
    attachment = forms.CharField(required=False, label="Attachment URL")
    attachments = _url_lines("Frame URLs", "One image URL per line, in playing order.")
    context_attachments = _url_lines("Context images", "One image URL per line; shown beside the task as reference.")
    frame_rate = NumberField(required=False, help_text="Frames per second to annotate.")
    annotation_frame_rate = NumberField(required=False, help_text="Frames per second to annotate (playback, V2).")
    video_frame_rate = NumberField(required=False, help_text="The video's own frame rate (playback, V2).")
    start_time = NumberField(required=False, help_text="Seconds into the video where annotation starts.")
    duration_time = NumberField(required=False, help_text="How many seconds to annotate.")
    padding = forms.IntegerField(required=False, help_text="Pixels of margin around the frame, both directions.")
    paddingX = forms.IntegerField(required=False, label="Padding X", help_text="Horizontal margin in pixels.")
    paddingY = forms.IntegerField(required=False, label="Padding Y", help_text="Vertical margin in pixels.")
    allow_unlabeled = _tri_state("Allow unlabeled pixels", "Yes lets some pixels stay unlabeled (default: no).")
    priority = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "Default")] + [(p, str(p)) for p in scale_rules.PRIORITIES],
        help_text="Higher is done sooner within the project.",
    )
    unique_id = forms.CharField(
        required=False,
        max_length=UNIQUE_ID_MAX_LENGTH,  # what the task table stores
        label="Unique ID",
        help_text="Leave empty to get one made for you; Scale refuses a second task with the same ID.",
    )
    clear_unique_id_on_error = _tri_state(
        "Free the unique ID on error", "Yes lets you resubmit with the same ID if the task ends in error."
    )
    can_add_base_annotations = _tri_state("Can add annotations", BASE_FLAG_HELP["can_add_base_annotations"])
    can_edit_base_annotations = _tri_state("Can edit annotations", BASE_FLAG_HELP["can_edit_base_annotations"])
    can_edit_base_annotation_labels = _tri_state("Can change labels", BASE_FLAG_HELP["can_edit_base_annotation_labels"])
    can_delete_base_annotations = _tri_state("Can delete annotations", BASE_FLAG_HELP["can_delete_base_annotations"])

    labels_json = _json("Labels")
    geometries_json = _json("Geometries")
    attributes_json = _json("Annotation attributes")
    links_json = _json("Links")
    events_json = _json("Events to annotate")
    metadata_json = _json("Metadata")
    tags_json = _json("Tags")
    hypothesis_json = _json(
        "Hypothesis (prelabels)",
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        help_text="Paste or upload a segmentation result: labelMapping and annotations.combined.indexedImage.",
    )
    base_annotations_json = _json(
        "Base annotations",
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        help_text='Paste or upload {"annotations": [...]} or {"annotations": {"url": "..."}} in Scale\'s format.',
    )

    extra_json = OtherParametersField(
        required=False,
        label="Other parameters",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="A JSON object of parameters no field above shows (an import puts them here). "
        "They are sent exactly as written.",
    )
    # The top-level key order of an imported payload, so it is emitted in the same order.
    key_order = BuilderJSONField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, task_type: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.task_type = task_type
        allowed = scale_rules.ALLOWED_FIELDS[task_type]
        for name in list(self.fields):
            if name not in FORM_ONLY_FIELDS and FIELD_TO_KEY.get(name, name) not in allowed:
                del self.fields[name]
        if "attachment_type" in self.fields and task_type == "segmentannotation":
            # image is the only kind: nothing to choose, but an imported explicit "image" is kept.
            self.fields["attachment_type"].widget = forms.HiddenInput()
        if "attachment" in self.fields and task_type != "segmentannotation":
            self.fields["attachment"].help_text = "The video file (mp4, webm or ogg)."
        elif "attachment" in self.fields:
            self.fields["attachment"].help_text = "The image to segment."
        if "hypothesis_json" in self.fields and task_type != "segmentannotation":
            self.fields["hypothesis_json"].help_text = (
                'Paste or upload {"annotations": {"url": "<JSON file>"}} (playback) or annotations '
                "in Scale's response format."
            )

    def clean_instruction(self) -> str:
        # Browsers post textareas with CRLF in a normal submit but LF through FormData (htmx):
        # one spelling, so the previewed payload and the submitted one are the same bytes.
        return self.cleaned_data["instruction"].replace("\r\n", "\n").replace("\r", "\n")

    def rules_data(self) -> dict[str, Any]:
        """The structured input for scale_rules.build_payload, from the fields that cleaned."""
        data: dict[str, Any] = {}
        cleaned = getattr(self, "cleaned_data", {})
        for name in self.fields:
            if name not in cleaned or name in FORM_ONLY_FIELDS:
                continue
            value = cleaned[name]
            if name == "attachment_type" and value == OMIT:
                continue
            if name in LINE_LIST_FIELDS:
                urls = [line.strip() for line in (value or "").splitlines() if line.strip()]
                value = [{"attachment": url} for url in urls] if name == "context_attachments" else urls
            data[FIELD_TO_KEY.get(name, name)] = value
        return data


class LibraryNameForm(forms.Form):
    library_name = forms.CharField(max_length=200, label="Name in the library")


def template_payload(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if key not in PER_TASK_FIELDS}
