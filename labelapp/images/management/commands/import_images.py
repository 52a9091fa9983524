"""``manage.py import_images --project SLUG PATH [--labels-from-folders]``: a folder, a zip or an ImageFolder tree."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labelapp.images.services import ImportResult, ImportStatus, images_import
from labelapp.images.sources import InvalidArchive, import_limits, iter_path, path_entry_count
from labelapp.lib.progress import progress_bar
from labelapp.projects.management.users import user_option
from labelapp.projects.models import Project


class Command(BaseCommand):
    help = (
        "Import images from a folder, a zip or one file; duplicates are skipped, bad files reported by name. "
        "With --labels-from-folders the folder holding each file is its class (ImageFolder layout)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--project", required=True, help="the project's slug")
        parser.add_argument("--labels-from-folders", action="store_true")
        parser.add_argument("--user", help="username recorded as uploader and annotator (default: none)")

    def handle(self, *args, **options) -> None:
        path: Path = options["path"]
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project with the slug {options['project']!r}")
        user = user_option(options["user"])
        progress = progress_bar(total=path_entry_count(path), unit="file", disable=options["verbosity"] == 0)

        def on_result(result: ImportResult) -> None:
            progress.update(1)
            if result.status == ImportStatus.REFUSED:
                progress.write(f"refused {result.name}: {result.reason}")

        try:
            report = images_import(
                project=project, files=iter_path(path, limits=import_limits()), user=user,
                labels_from_folders=options["labels_from_folders"], on_result=on_result,
            )
        except InvalidArchive as exc:
            raise CommandError(f"{path}: {exc}") from exc
        finally:
            progress.close()
        summary = report.as_dict()
        self.stdout.write(
            f"{summary['added']} added ({summary['labeled']} labeled), {summary['duplicates']} duplicates skipped, "
            f"{summary['refused']} refused"
        )
        if report.created_classes:
            self.stdout.write(f"created classes: {', '.join(report.created_classes)}")
