"""``python manage.py run_round --project SLUG [--seconds S | --steps N]``: one training round in the foreground."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from labelapp.lib import embedded_redis
from labelapp.projects.models import Project
from labelapp.training.jobs import run_training_round
from labelapp.training.models import ModelVersion


class Command(BaseCommand):
    help = "Run one training round of a project now, through the same code path as the worker's job."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        budget = parser.add_mutually_exclusive_group()
        budget.add_argument("--seconds", type=float, help="training budget in seconds (default: the project's)")
        budget.add_argument("--steps", type=int, help="training budget in optimizer steps")

    def handle(self, *args, project: str, seconds: float | None, steps: int | None, **options) -> None:
        project_id = Project.objects.filter(slug=project).values_list("pk", flat=True).first()
        if project_id is None:
            raise CommandError(f"no project with slug {project!r}")
        if (seconds is not None and seconds <= 0) or (steps is not None and steps <= 0):
            raise CommandError("the budget must be positive")
        # The round needs Redis (its lock, progress and events): without `make run`, an embedded one
        # runs for this command only.
        try:
            with embedded_redis.for_command(
                embedded=settings.EMBEDDED_REDIS, socket_path=settings.REDIS_SOCKET, url=settings.REDIS_URL
            ):
                outcome = run_training_round(project_id, steps=steps, seconds=seconds)
        except embedded_redis.Unreachable as exc:
            raise CommandError(str(exc)) from exc
        version = ModelVersion.objects.filter(project_id=project_id).order_by("-number").first()
        if outcome.startswith("done") and version is not None:
            outcome += f": {version.round_steps} steps ({version.steps} in all) on {version.device}, timings {version.timings}"
        self.stdout.write(outcome)
