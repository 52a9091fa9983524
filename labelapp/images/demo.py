"""The demo project: 3000 Fashion-MNIST PNGs (MIT licence) shipped in ``labelapp/demo``, a few labeled.

Seeding is idempotent: once the demo project holds all the demo images, seeding again changes nothing;
a seeding cut short (Ctrl+C) is completed on the next start, duplicates being skipped by content.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

from labelapp.images.services import ImportResult, images_import, images_label
from labelapp.images.sources import SourceFile, folder_label, import_limits, iter_zip, zip_member_count
from labelapp.lib.users import User
from labelapp.projects.models import Project
from labelapp.projects.services import default_class_specs, project_create

DEMO_ZIP = Path(__file__).resolve().parent.parent / "demo" / "fashion_mnist_demo.zip"
DEMO_SLUG = "fashion-mnist-demo"
# Fashion-MNIST's label order; the zip's folders use these names.
DEMO_CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]


def demo_image_count(zip_path: Path = DEMO_ZIP) -> int:
    """How many images the demo zip holds."""
    with zip_path.open("rb") as handle:
        return zip_member_count(handle)


def demo_seed(
    *, owner: User | None, zip_path: Path = DEMO_ZIP, labels_per_class: int = 2,
    on_result: Callable[[ImportResult], None] | None = None,
) -> tuple[Project, bool]:
    """Create the demo project and import the demo images, labeling ``labels_per_class`` per class.

    Returns ``(project, seeded)``; ``seeded`` is False when the project already had all the images.
    """
    project = Project.objects.filter(slug=DEMO_SLUG).first()
    if project is None:
        project = project_create(
            name="Fashion-MNIST demo", slug=DEMO_SLUG, owner=owner, classes=default_class_specs(DEMO_CLASSES),
            description="3000 Fashion-MNIST images (MIT licence), 2 labeled per class: label a few more, "
                        "start training, and review what the model proposes.",
            image_size=28, grayscale=True,
        )
    if project.images.count() >= demo_image_count(zip_path):
        return project, False
    label = not project.annotations.exists()  # a seeding cut short resumes; it never relabels
    folders: list[str | None] = []

    def entries() -> Iterator[SourceFile]:
        with zip_path.open("rb") as handle:
            for entry in iter_zip(handle, limits=import_limits()):
                folders.append(folder_label(entry.name))
                yield entry

    report = images_import(project=project, files=entries(), user=owner, on_result=on_result)
    if label:
        _label_first(project=project, owner=owner, folders=folders, results=report.results, per_class=labels_per_class)
    return project, True


def _label_first(
    *, project: Project, owner: User | None, folders: list[str | None], results: list[ImportResult],
    per_class: int,
) -> None:
    """Give the first ``per_class`` images of each class folder their human label."""
    classes = dict(project.classes.values_list("name", "pk"))
    labeled: dict[str, int] = defaultdict(int)
    labels: list[tuple[int, int]] = []
    for folder, result in zip(folders, results):
        if result.image_id is not None and folder in classes and labeled[folder] < per_class:
            labels.append((result.image_id, classes[folder]))
            labeled[folder] += 1
    images_label(project=project, labels=labels, user=owner)
