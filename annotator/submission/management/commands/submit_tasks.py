"""python manage.py submit_tasks FILE --template NAME [--workspace W] [--dry-run] [--wait]

The bulk page's code path from a terminal: the same dry run, the same group,
the same workers. Exit status 1 when rows have errors (and nothing else was
submitted), so scripts can stop.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from annotator.accounts.models import Workspace
from annotator.submission import bulk

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Validate a CSV/JSONL file of tasks against a template and submit the valid rows as one group."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="CSV or JSONL file, or - for standard input")
        parser.add_argument("--template", required=True, help="name of a task template in the workspace")
        parser.add_argument("--workspace", help="workspace name or code (needed when there are several)")
        parser.add_argument("--dry-run", action="store_true", help="validate every row; create nothing")
        parser.add_argument("--wait", action="store_true", help="follow the submission until every row is done")
        parser.add_argument("--name", default="", help="a name for the group")
        parser.add_argument("--batch", default="", help="create this Scale batch and put every task in it")
        parser.add_argument("--finalize", action="store_true", help="finalize the batch once every row is in")
        parser.add_argument("--format", choices=["csv", "jsonl", "urls"], help="default: guessed from the file")

    def handle(self, *args, **options) -> None:
        workspace = self._workspace(options["workspace"])
        from annotator.composer.models import TaskTemplate

        template = TaskTemplate.objects.filter(workspace=workspace, name=options["template"]).first()
        if template is None:
            names = ", ".join(TaskTemplate.objects.filter(workspace=workspace).values_list("name", flat=True))
            raise CommandError(f"No template {options['template']!r} in {workspace}. Templates: {names or 'none'}")
        path = options["file"]
        content = sys.stdin.buffer.read() if path == "-" else self._readable(path)
        try:
            the_plan = bulk.plan(
                workspace, template, content, path, batch=options["batch"], file_format=options["format"]
            )
        except bulk.FileError as e:
            raise CommandError(str(e)) from None
        for warning in the_plan.warnings:
            # Inferred rules: worth reading, never a reason to stop (Scale may accept it).
            self.stderr.write(str(warning))
        for error in the_plan.errors:
            self.stderr.write(str(error))
        if the_plan.error_count > len(the_plan.errors):
            self.stderr.write(f"... and {the_plan.error_count - len(the_plan.errors)} more errors")
        self.stdout.write(
            f"{len(the_plan.rows)} rows: {len(the_plan.valid_rows)} ready, {len(the_plan.invalid_rows)} with errors, "
            f"{the_plan.already_count} already submitted"
        )
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was created.")
            if the_plan.invalid_rows:
                sys.exit(1)
            return
        if not the_plan.valid_rows:
            if the_plan.invalid_rows:
                raise CommandError("Nothing submitted: fix the errors above.")
            self.stdout.write("Nothing to submit: every row was already submitted.")
            return
        group = bulk.submit_plan(the_plan, None, name=options["name"], finalize_batch=options["finalize"])
        self.stdout.write(f"Queued {group.total} tasks as group {group.code} ({group.name}).")
        if options["wait"]:
            self._follow(group)

    def _workspace(self, wanted: str | None) -> Workspace:
        if wanted:
            query = Q(name=wanted)
            try:
                import uuid

                query |= Q(code=uuid.UUID(wanted))
            except ValueError:
                pass
            found = list(Workspace.objects.filter(query)[:2])
        else:
            found = list(Workspace.objects.all()[:2])
        if len(found) != 1:
            names = ", ".join(Workspace.objects.values_list("name", flat=True)[:20])
            raise CommandError(f"Name exactly one workspace with --workspace (workspaces: {names or 'none'})")
        return found[0]

    def _readable(self, path: str) -> Path:
        # A path, not its bytes: the plan reads it as a stream, however large the file.
        try:
            with open(path, "rb"):
                pass
        except OSError as e:
            raise CommandError(f"Cannot read {path}: {e.strerror}") from None
        return Path(path)

    def _follow(self, group) -> None:
        tty = self.stdout.isatty()
        while True:
            p = bulk.progress(group)
            filled = int(BAR_WIDTH * p.finished / p.total) if p.total else BAR_WIDTH
            eta = "" if p.eta_seconds is None or p.done else f" eta {p.eta_seconds:.0f}s"
            line = (
                f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {p.finished}/{p.total} "
                f"submitted {p.submitted} failed {p.failed} {p.rate:.1f}/s{eta}"
            )
            self.stdout.write(("\r" + line) if tty else line, ending="" if tty else "\n")
            self.stdout.flush()
            if p.done:
                break
            time.sleep(1 if tty else 2)
        if tty:
            self.stdout.write("")
        if p.failed:
            from annotator.tasks.models import Task

            for task in Task.objects.filter(group=group, state=Task.State.FAILED)[:50]:
                self.stderr.write(f"failed: {task.unique_id}: {task.last_error}")
            sys.exit(2)
