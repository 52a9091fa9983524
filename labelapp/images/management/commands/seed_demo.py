"""``manage.py seed_demo [--owner USER]``: the Fashion-MNIST demo project (idempotent)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from labelapp.images.demo import demo_image_count, demo_seed
from labelapp.lib.progress import progress_bar
from labelapp.projects.management.users import user_option


class Command(BaseCommand):
    help = "Create the demo project from labelapp/demo/fashion_mnist_demo.zip unless it already has images."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--owner", help="username of the owner (default: none)")

    def handle(self, *args, **options) -> None:
        owner = user_option(options["owner"])
        quiet = options["verbosity"] == 0
        bar = progress_bar(desc="demo images", unit="img", total=demo_image_count(), disable=quiet)
        with bar as progress:
            project, seeded = demo_seed(owner=owner, on_result=lambda _: progress.update(1))
        counts = f"{project.images.count()} images, {project.annotations.count()} labeled"
        self.stdout.write(f"demo project {project.slug!r}: {'seeded' if seeded else 'already there'} ({counts})")
