from __future__ import annotations

from django import forms

from annotator.accounts.models import Workspace


class UploadForm(forms.Form):
    template = forms.ModelChoiceField(
        queryset=None, to_field_name="code", empty_label=None, help_text="Every row starts from this template."
    )
    file = forms.FileField(
        required=False,
        label="CSV or JSONL file",
        help_text="Columns/keys: attachment or attachments, and optionally metadata (JSON), metadata.<key>, "
        "tags, unique_id, priority.",
    )
    urls = forms.CharField(
        required=False,
        label="…or paste attachment URLs",
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "https://example.org/frames/0001.png"}),
        help_text="One URL per line; each becomes a task.",
    )
    name = forms.CharField(required=False, max_length=200, label="Name of this submission (optional)")
    batch = forms.CharField(
        required=False,
        max_length=200,
        label="Scale batch (optional)",
        help_text="Created at Scale before the tasks, and every task is put in it.",
    )
    finalize_batch = forms.BooleanField(required=False, label="Finalize the batch once every row is in")

    def __init__(self, *args, workspace: Workspace, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from annotator.composer.models import TaskTemplate

        self.fields["template"].queryset = TaskTemplate.objects.filter(workspace=workspace).order_by("name")

    def clean(self) -> dict:
        data = super().clean()
        has_file, has_urls = bool(data.get("file")), bool((data.get("urls") or "").strip())
        if has_file == has_urls:
            raise forms.ValidationError("Choose a file or paste URLs (one of the two).")
        return data

    def content(self):
        """The upload (a Django UploadedFile, read in chunks) or the pasted URLs as bytes, and a file name."""
        upload = self.cleaned_data.get("file")
        if upload:
            return upload, upload.name
        return self.cleaned_data["urls"].strip().encode() + b"\n", "pasted.txt"
