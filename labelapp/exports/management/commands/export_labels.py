"""``manage.py export_labels --project SLUG --format csv|json|coco|imagefolder --out PATH`` (synchronous)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labelapp.exports.selectors import LabelOptions
from labelapp.exports.services import LABEL_FORMATS, labels_export_write
from labelapp.projects.models import Project


class Command(BaseCommand):
    help = "Export a project's labels as CSV, JSON, COCO JSON or an ImageFolder zip (streamed; any size)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--format", required=True, choices=LABEL_FORMATS)
        parser.add_argument("--out", required=True, type=Path, help="file to write")
        parser.add_argument("--include-pseudo", action="store_true", help="add accepted pseudo-labels")
        parser.add_argument(
            "--include-predictions", action="store_true",
            help="add unreviewed predictions at or above the project's threshold (source 'prediction')",
        )

    def handle(self, *args, **options) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project with slug {options['project']!r}")
        path = labels_export_write(
            project=project,
            fmt=options["format"],
            options=LabelOptions(options["include_pseudo"], options["include_predictions"]),
            path=options["out"],
        )
        self.stdout.write(f"wrote {path} ({path.stat().st_size} bytes)")
