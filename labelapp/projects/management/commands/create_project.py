"""``manage.py create_project SLUG --classes a,b,c [--owner USER]``: set a project up from a script."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from labelapp.projects.management.users import user_option
from labelapp.projects.services import default_class_specs, project_create


class Command(BaseCommand):
    help = "Create a project with its classes (hotkeys 1-9, 0 in order); --owner becomes its owner."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--classes", required=True, help="comma-separated class names, in order")
        parser.add_argument("--owner", help="username of the owner (default: none; site admins see every project)")
        parser.add_argument("--name", help="display name (default: the slug)")
        parser.add_argument("--algorithm", help="one of sslengine.list_algorithms()")
        parser.add_argument("--backbone", help="one of sslengine.list_backbones()")
        parser.add_argument("--strategy", help="one of sslengine.list_strategies()")
        parser.add_argument("--image-size", type=int)
        parser.add_argument("--threshold", type=float, help="confidence threshold tau (default 0.95)")
        parser.add_argument("--grayscale", action="store_true")

    def handle(self, *args, **options) -> None:
        owner = user_option(options["owner"])
        names = [name.strip() for name in options["classes"].split(",") if name.strip()]
        extra = {
            field: options[field]
            for field in ("algorithm", "backbone", "strategy", "image_size", "threshold")
            if options[field] is not None
        }
        try:
            project = project_create(
                name=options["name"] or options["slug"], slug=options["slug"], owner=owner,
                classes=default_class_specs(names), grayscale=options["grayscale"], **extra,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(f"created project {project.slug!r} with classes: {', '.join(names)}")
