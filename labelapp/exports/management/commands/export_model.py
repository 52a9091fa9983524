"""``manage.py export_model --project SLUG [--version N] --format onnx|torchscript --out DIR [--variant V]``."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labelapp.exports.selectors import version_for_export
from labelapp.exports.services import MODEL_FORMATS, DistillationUnavailable, model_bundle_write
from labelapp.projects.models import Project


class Command(BaseCommand):
    help = (
        "Export a model version (default: the current one) as ONNX or TorchScript into a folder, "
        "with model_card.json, model_card.md and predict.py."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs) -> CommandParser:
        # The interface uses --version for the model version: it replaces Django's own --version.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--version", type=int, help="version number (default: current, else latest)")
        parser.add_argument("--format", required=True, choices=MODEL_FORMATS)
        parser.add_argument("--out", required=True, type=Path, help="folder to write the files into")
        parser.add_argument(
            "--variant", default="trained", help="trained (default), int8 (ONNX) or distilled:<student> (a finished distillation)"
        )

    def handle(self, *args, **options) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project with slug {options['project']!r}")
        version = version_for_export(project=project, number=options["version"])
        if version is None:
            raise CommandError(f"project {project.slug!r} has no model version {options['version'] or ''}".rstrip())
        try:
            files = model_bundle_write(
                version=version, fmt=options["format"], directory=options["out"], variant=options["variant"]
            )
        except (FileNotFoundError, ValueError, DistillationUnavailable) as exc:
            raise CommandError(str(exc)) from exc
        for path in files:
            self.stdout.write(f"wrote {path}")
