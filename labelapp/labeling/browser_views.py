"""The images data browser: the filtered grid, one image's detail page (history, predictions, nearest
neighbours, relabel with the class keys) and the bulk label endpoint. Thin: scope, parse, call.

Here in labeling, not in images, because it reads labels, predictions and embeddings (the images app
sits below labeling and training). Filters live in the query string, so a filtered view is a link.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from labelapp.images.selectors import image_counts, images_skipped
from labelapp.labeling import browser, browser_inputs, presenters, selectors
from labelapp.labeling.browser_services import annotations_submit_bulk
from labelapp.labeling.neighbours import nearest_images
from labelapp.labeling.views import _bad_page_query, _class, json_endpoint
from labelapp.lib.inputs import InvalidInput, validated
from labelapp.lib.users import AuthenticatedHttpRequest
from labelapp.projects.models import LabelClass, Project, Role
from labelapp.projects.selectors import get_project_for_user, has_role
from labelapp.training.models import ModelVersion, Prediction

TOP_PROBABILITIES = 3
FILTER_NAMES = ("class", "predicted", "source", "min_confidence", "max_confidence", "annotator", "state", "sort")


def _name_predictions(images: list, class_names: dict[int, str]) -> list:
    """Give each grid item ``predicted_name``, the class name of its prediction (``""`` without one)."""
    for image in images:
        image.predicted_name = class_names.get(image.predicted_index, "") if image.predicted_index is not None else ""
    return images


def _members(project: Project) -> list:
    return list(
        get_user_model().objects.filter(memberships__project=project).order_by("username").only("id", "username")
    )


def _filters(project: Project, query: dict, raw: dict, indexes: set[int]) -> browser.BrowserFilters:
    """The validated query as filters; :class:`InvalidInput` for a class index or annotator the project lacks."""
    class_id = None
    if query.get("class_index") is not None:
        found = LabelClass.objects.filter(project=project, index=query["class_index"]).values_list("pk", flat=True).first()
        if found is None:
            raise InvalidInput(f"class: this project has no class {query['class_index']}.")
        class_id = found
    if query.get("predicted") is not None and query["predicted"] not in indexes:
        raise InvalidInput(f"predicted: this project has no class {query['predicted']}.")
    annotator_id = None
    if query["annotator"]:
        annotator_id = next((m.pk for m in _members(project) if m.username == query["annotator"]), None)
        if annotator_id is None:
            raise InvalidInput(f"annotator: nobody named “{raw.get('annotator')}” is a member of this project.")
    return browser.BrowserFilters(
        class_id=class_id,
        predicted_index=query.get("predicted"),
        source=query["source"],
        min_confidence=query.get("min_confidence"),
        max_confidence=query.get("max_confidence"),
        annotator_id=annotator_id,
        state=query["state"],
    )


@login_required
@require_GET
def image_browser(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    classes = presenters.classes(project)
    class_names = {c["index"]: c["name"] for c in classes}
    try:
        query = validated(browser_inputs.BrowserQuerySerializer, request.GET)
        filters = _filters(project, query, request.GET, set(class_names))
    except InvalidInput as refused:
        return _bad_page_query(request, refused)
    version = selectors.current_version(project)
    sort = browser.SORTS[query["sort"]]
    page = browser.browser_page(
        project, version=version, filters=filters, sort=sort, after=query["after"], before=query["before"]
    )
    _name_predictions(page.images, class_names)
    chosen = {name: request.GET[name] for name in FILTER_NAMES if request.GET.get(name)}
    return render(request, "images/list.html", {
        "project": project,
        "page": page,
        "chosen": chosen,
        "filtered": bool(set(chosen) - {"sort"}),
        "query": urlencode(chosen),
        "matching": browser.browser_count(project, version=version, filters=filters),
        "version": version,
        "classes": classes,
        "members": _members(project),
        "sources": browser.SOURCES,
        "states": browser.STATES,
        "sorts": {name: s.label for name, s in browser.SORTS.items()},
        "counts": image_counts(project=project),
        "skipped": images_skipped(project=project),
        "can_upload": has_role(request.user, project, Role.REVIEWER),
    })


def _prediction_row(prediction: Prediction, class_names: dict[int, str], current_id: int | None) -> dict:
    ranked = sorted(enumerate(prediction.probs), key=lambda pair: -pair[1])[:TOP_PROBABILITIES]
    return {
        "version": prediction.version,
        "current": prediction.version_id == current_id,
        "predicted": class_names.get(prediction.predicted_index, f"class {prediction.predicted_index}"),
        "confidence": prediction.confidence,
        "top": [(class_names.get(index, f"class {index}"), p) for index, p in ranked],
    }


def _neighbours(
    project: Project, version: ModelVersion | None, image_id: int, class_names: dict[int, str]
) -> list[dict] | None:
    if version is None:
        return None
    found = nearest_images(version, image_id)
    if found is None:
        return None
    similarity = dict(found)
    images = browser.browser_images_by_id(project, version=version, image_ids=[i for i, _ in found])
    _name_predictions(images, class_names)
    return [{"image": image, "similarity": similarity[image.pk]} for image in images]


@login_required
@require_GET
def image_detail(request: AuthenticatedHttpRequest, slug: str, image_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    version = selectors.current_version(project)
    image = browser.browser_image(project, version=version, image_id=image_id)
    if image is None:
        raise Http404("No such image in this project.")
    classes = presenters.classes(project)
    class_names = {c["index"]: c["name"] for c in classes}
    _name_predictions([image], class_names)
    annotation = getattr(image, "annotation", None)
    config = presenters.page_config(
        project,
        image={"id": image.pk, "expected_revision": annotation.revision if annotation else None},
        bulk_url=reverse("labeling:images_label", args=[project.slug]),
    )
    return render(request, "images/detail.html", {
        "project": project,
        "image": image,
        "annotation": annotation,
        "version": version,
        "classes": classes,
        "history": browser.image_history(image),
        "predictions": [_prediction_row(p, class_names, project.current_version_id) for p in browser.image_predictions(image)],
        "neighbours": _neighbours(project, version, image.pk, class_names),
        "config": config,
        "back": urlencode({name: request.GET[name] for name in FILTER_NAMES if request.GET.get(name)}),
    })


@require_POST
@json_endpoint(Role.ANNOTATOR, changes_counts=True)
def images_label(request: AuthenticatedHttpRequest, project: Project, body: dict) -> dict:
    """"Label all these as …": ``{"class_index", "images": [{"image", "expected_revision"}]}``."""
    given = validated(browser_inputs.BulkLabelSerializer, body)
    seen = {item["image"]: item.get("expected_revision") for item in given["images"]}
    result = annotations_submit_bulk(
        project=project, user=request.user, label_class=_class(project, given["class_index"]), seen=seen
    )
    return result.as_dict()
