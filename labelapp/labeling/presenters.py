"""Shape selector results into page contexts and JSON for the labeling pages (reads only)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import groupby

from django.urls import reverse

from labelapp.labeling import selectors
from labelapp.labeling.models import Annotation, ImageLease
from labelapp.lib.users import User
from labelapp.projects.models import LabelClass, Project, Role
from labelapp.projects.selectors import has_role
from labelapp.training.models import Prediction

SKIP_KEY = " "


def image_url(slug: str, image_id: int, *, thumbnail: bool = False) -> str:
    """Where the browser fetches an image's bytes (the images app's members-only views)."""
    return reverse("images:thumbnail" if thumbnail else "images:file", kwargs={"slug": slug, "image_id": image_id})


_URL_ID = 987654321  # a stand-in image id, cut out of one reversed URL


def image_url_maker(slug: str, *, thumbnail: bool = False) -> Callable[[int], str]:
    """:func:`image_url` for many images of one project: one ``reverse`` per page instead of one per image."""
    head, _, tail = image_url(slug, _URL_ID, thumbnail=thumbnail).rpartition(str(_URL_ID))
    return lambda image_id: f"{head}{int(image_id)}{tail}"


def hotkey(label_class: LabelClass) -> str:
    """The class's key: the project's mapping, else 1–9 by position."""
    return label_class.hotkey or (str(label_class.index + 1) if label_class.index < 9 else "")


def classes(project: Project) -> list[dict]:
    return [
        {"index": c.index, "name": c.name, "key": hotkey(c)} for c in project.classes.all().order_by("index")
    ]


def leased_image(project: Project, lease: ImageLease) -> dict:
    """One image handed to a labeler: where to fetch it, its lease, and the label it has now (after an undo).

    A lease from :func:`labelapp.labeling.services.lease_next` is of an unlabeled image and carries the
    model's guess (``lease.guess``): no query. Others (an undo) look both up."""
    image = lease.image
    if hasattr(lease, "guess"):
        return _leased_data(project, lease, annotation=None, guess=lease.guess)
    annotation = Annotation.objects.filter(image=image).select_related("label_class").first()
    guess = None
    if project.show_model_guess and project.current_version_id:
        prediction = Prediction.objects.filter(version_id=project.current_version_id, image=image).first()
        if prediction is not None:
            guess = selectors.Guess(class_index=prediction.predicted_index, confidence=prediction.confidence)
    return _leased_data(project, lease, annotation=annotation, guess=guess)


def _leased_data(
    project: Project, lease: ImageLease, *, annotation: Annotation | None, guess: selectors.Guess | None
) -> dict:
    image = lease.image
    data = {
        "id": image.pk,
        "url": image_url(project.slug, image.pk),
        "name": image.original_name,
        "lease_token": str(lease.token),
        "expected_revision": annotation.revision if annotation else None,
        "current": {"class_index": annotation.label_class.index, "source": annotation.source} if annotation else None,
        "guess": {"class_index": guess.class_index, "confidence": round(guess.confidence, 4)} if guess else None,
    }
    return data


def _urls(project: Project) -> dict[str, str]:
    names = ["next", "submit", "undo", "skip", "release", "state", "prepare", "review_decide", "review_undo", "suspects_items", "suspect_keep"]
    urls = {name: reverse(f"labeling:{name}", args=[project.slug]) for name in names}
    urls["training_status"] = f"/p/{project.slug}/training/status/"
    return urls


def page_config(project: Project, *, class_list: list[dict] | None = None, **extra: object) -> dict:
    """The JSON a page script boots from (rendered with ``json_script``); ``class_list``: the project's
    :func:`classes` when the caller has them already."""
    return {
        "slug": project.slug,
        "classes": classes(project) if class_list is None else class_list,
        "urls": _urls(project),
        "version": selectors.version_number(project),
        **extra,
    }


def label_page_context(project: Project, user: User, queue: str) -> dict:
    class_list = classes(project)
    return {
        "project": project,
        "queue": queue,
        "classes": class_list,
        "counts": selectors.labeling_counts(project, reader=user),
        "can_review": has_role(user, project, Role.REVIEWER),
        "config": page_config(project, class_list=class_list, queue=queue, skip_key=SKIP_KEY),
    }


def review_page_context(
    project: Project, *, reader: User, class_index: int | None, after: selectors.ReviewCursor | None, page_size: int
) -> dict:
    """A page of the review grid, grouped by predicted class, plus the cursor of the next page."""
    version = selectors.current_version(project)
    class_list = classes(project)
    names = {c["index"]: c["name"] for c in class_list}
    items: list[Prediction] = []
    if version is not None:
        queue = selectors.review_queue(project, version=version, class_index=class_index, after=after)
        # the grid shows three columns: no image rows, no probability vectors to decode
        items = list(queue.select_related(None).only("image_id", "predicted_index", "confidence")[: page_size + 1])
    more = len(items) > page_size
    items = items[:page_size]
    last = items[-1] if items and more else None
    url = image_url_maker(project.slug, thumbnail=True)
    groups = [
        {"index": index, "name": names.get(index, str(index)), "items": [_review_item(url, p) for p in group]}
        for index, group in groupby(items, key=lambda p: p.predicted_index)
    ]
    return {
        "project": project,
        "version": version,
        "groups": groups,
        "classes": class_list,
        "class_index": class_index,
        "next_after": selectors.ReviewCursor(last.predicted_index, last.confidence, last.image_id).encode() if last else "",
        "counts": selectors.labeling_counts(project, reader=reader),
        "config": page_config(project, class_list=class_list, page_size=page_size),
    }


def _review_item(url: Callable[[int], str], prediction: Prediction) -> dict:
    return {
        "image_id": prediction.image_id,
        "url": url(prediction.image_id),
        "confidence": prediction.confidence,
        "confidence_text": f"{prediction.confidence:.3f}",
    }


def suspects_items(project: Project, *, after: selectors.SuspectCursor | None, page_size: int) -> dict:
    """A page of suspected label errors as JSON, with the cursor of the next page."""
    version = selectors.current_version(project)
    if version is None:
        return {"items": [], "next_after": "", "version": 0}
    rows = list(selectors.suspects_queue(project, version=version, after=after)[: page_size + 1])
    more = len(rows) > page_size
    rows = rows[:page_size]
    items = []
    url = image_url_maker(project.slug)
    for prediction in rows:
        annotation = prediction.image.annotation
        items.append(
            {
                "image_id": prediction.image_id,
                "url": url(prediction.image_id),
                "label_index": annotation.label_class.index,
                "labeled_by": annotation.annotator.get_username() if annotation.annotator else "",
                "revision": annotation.revision,
                "predicted_index": prediction.predicted_index,
                "confidence": prediction.confidence,
            }
        )
    last = rows[-1] if rows and more else None
    return {
        "items": items,
        "next_after": selectors.SuspectCursor(last.confidence, last.image_id).encode() if last else "",
        "version": version.number,
    }


def suspects_page_context(project: Project, reader: User, page_size: int) -> dict:
    first_page = suspects_items(project, after=None, page_size=page_size)
    return {
        "project": project,
        "counts": selectors.labeling_counts(project, reader=reader),
        "classes": classes(project),
        "config": page_config(project, first_page=first_page),
    }
