"""Labeling pages and the small JSON endpoints their scripts call. Thin: scope, parse, call one function.

Every view resolves the project with ``get_project_for_user`` (outsiders get 404) and every image or
class id is looked up inside that project (ids of another project get 404 too).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from labelapp.images.models import Image
from labelapp.labeling import annotator_stats, charts, inputs, presenters, selectors, services
from labelapp.lib.inputs import InvalidInput, validated
from labelapp.lib.users import AuthenticatedHttpRequest
from labelapp.projects.models import LabelClass, Project, Role
from labelapp.projects.selectors import get_project_for_user, has_role

REVIEW_PAGE_SIZE = 40
SUSPECTS_PAGE_SIZE = 20


def error(detail: str, status: int) -> JsonResponse:
    """A refused request in the REST API's shape: ``{"detail": "..."}``."""
    return JsonResponse({"detail": detail}, status=status)


def json_endpoint(minimum: Role, *, changes_counts: bool = False) -> Callable:
    """Log-in required, project scoped at ``minimum`` role, JSON body parsed; refusals answer ``{"detail"}``
    with their status (400 for bad input, 404 for an id outside the project, 409 for a conflict).
    ``changes_counts`` (labels, review decisions): an answered call marks the person's own change, so that
    the counts shown to them next include it."""

    def decorate(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapper(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
            project = get_project_for_user(request.user, slug, minimum=minimum)
            try:
                body = json.loads(request.body or b"{}") if request.method == "POST" else {}
            except (ValueError, RecursionError):
                body = None
            if not isinstance(body, dict):
                return error("The request body is not a JSON object.", 400)
            try:
                answer = JsonResponse(view(request, project, body))
            except InvalidInput as refused:
                return error(str(refused), 400)
            except services.LabelingError as refused:
                return error(str(refused), refused.status)
            except Http404:
                return error("Not found.", 404)
            if changes_counts:
                services.labeling_counts_own_change(project_id=project.pk, user_id=request.user.pk)
            return answer

        return wrapper

    return decorate


def _image(project: Project, image_id: int) -> Image:
    return get_object_or_404(Image, project=project, pk=image_id)


def _class(project: Project, index: int) -> LabelClass:
    return get_object_or_404(LabelClass, project=project, index=index)


def _bad_page_query(request: HttpRequest, refused: InvalidInput) -> HttpResponse:
    """A page's refused query string (a stale bookmark, a hand-edited link): the reason on the app's page,
    with the way back to the page without its query."""
    return render(request, "400.html", {"reason": str(refused), "back": request.path}, status=400)


def _page(request: AuthenticatedHttpRequest, slug: str, queue: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    return render(request, "labeling/label.html", presenters.label_page_context(project, request.user, queue))


@login_required
@require_GET
def label_page(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    return _page(request, slug, selectors.QUEUE_LABEL)


@login_required
@require_GET
def low_confidence_page(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    return _page(request, slug, selectors.QUEUE_LOW_CONFIDENCE)


@require_POST
@json_endpoint(Role.ANNOTATOR)
def next_image(request: AuthenticatedHttpRequest, project: Project, body: dict) -> dict:
    query = validated(inputs.NextImageRequestSerializer, body)
    lease = services.lease_next(project=project, user=request.user, queue=query["queue"], held=query["held"])
    return {"image": presenters.leased_image(project, lease) if lease else None}


@require_POST
@json_endpoint(Role.ANNOTATOR, changes_counts=True)
def submit(request: AuthenticatedHttpRequest, project: Project, body: dict) -> dict:
    given = validated(inputs.AnnotationSubmitSerializer, body)
    annotation = services.annotation_submit(
        project=project,
        image=_image(project, given["image"]),
        label_class=_class(project, given["class_index"]),
        user=request.user,
        expected_revision=given.get("expected_revision"),
    )
    return {"image": annotation.image_id, "revision": annotation.revision, "class_index": annotation.label_class.index}


@require_POST
@json_endpoint(Role.ANNOTATOR, changes_counts=True)
def undo(request: AuthenticatedHttpRequest, project: Project, body: dict) -> dict:
    lease = services.annotation_undo(project=project, user=request.user)
    return {"image": presenters.leased_image(project, lease)}


@require_POST
@json_endpoint(Role.ANNOTATOR)
def skip(request: AuthenticatedHttpRequest, project: Project, body: dict) -> dict:
    image = _image(project, validated(inputs.ImageRequestSerializer, body)["image"])
    services.image_skip(project=project, user=request.user, image=image)
    return {"skipped": image.pk}


@require_POST
@json_endpoint(Role.ANNOTATOR)
def release(request: AuthenticatedHttpRequest, project: Project, body: dict) -> dict:
    services.lease_release(user=request.user, image_ids=validated(inputs.ImageListSerializer, body)["images"])
    return {"released": True}


@require_POST
@json_endpoint(Role.ANNOTATOR)
def prepare(request: AuthenticatedHttpRequest, project: Project, body: dict) -> dict:
    """Build the label queue's order for the current version now (pages call it on "version ready"),
    so that nobody's next label waits for it."""
    order = services.queue_order_build(project=project)
    return {"version": order.version_number, "size": order.size}


@require_GET
@json_endpoint(Role.ANNOTATOR)
def state(request: AuthenticatedHttpRequest, project: Project, body: dict) -> dict:
    """What a page needs to catch up after a missed websocket message: version and counts."""
    return selectors.labeling_counts(project, reader=request.user)


@login_required
@require_GET
def review_page(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, minimum=Role.REVIEWER)
    try:
        query = validated(inputs.ReviewPageQuerySerializer, request.GET)
    except InvalidInput as refused:
        return _bad_page_query(request, refused)
    context = presenters.review_page_context(
        project, reader=request.user, class_index=query.get("class_index"), after=query.get("after") or None, page_size=REVIEW_PAGE_SIZE
    )
    return render(request, "labeling/review.html", context)


@require_POST
@json_endpoint(Role.REVIEWER, changes_counts=True)
def review_decide(request: AuthenticatedHttpRequest, project: Project, body: dict) -> dict:
    decision = validated(inputs.PseudoLabelDecisionSerializer, body)
    return services.pseudo_labels_decide(
        project=project,
        user=request.user,
        version_number=decision["version"],
        accept_ids=decision["accept"],
        reject_ids=decision["reject"],
    )


@require_POST
@json_endpoint(Role.REVIEWER, changes_counts=True)
def review_undo(request: AuthenticatedHttpRequest, project: Project, body: dict) -> dict:
    image_ids = validated(inputs.ImageListSerializer, body)["images"]
    return services.pseudo_labels_undo(project=project, user=request.user, image_ids=image_ids)


@login_required
@require_GET
def suspects_page(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, minimum=Role.REVIEWER)
    return render(request, "labeling/suspects.html", presenters.suspects_page_context(project, request.user, SUSPECTS_PAGE_SIZE))


@require_GET
@json_endpoint(Role.REVIEWER)
def suspects_items(request: AuthenticatedHttpRequest, project: Project, body: dict) -> dict:
    after = validated(inputs.SuspectsQuerySerializer, request.GET).get("after") or None
    return presenters.suspects_items(project, after=after, page_size=SUSPECTS_PAGE_SIZE)


@require_POST
@json_endpoint(Role.REVIEWER, changes_counts=True)
def suspect_keep(request: AuthenticatedHttpRequest, project: Project, body: dict) -> dict:
    given = validated(inputs.SuspectKeepSerializer, body)
    decision = services.suspect_keep(
        project=project, user=request.user, image=_image(project, given["image"]), version_number=given["version"]
    )
    return {"kept": decision.image_id}


@login_required
@require_GET
def dashboard_page(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    context = charts.dashboard_context(project)
    context["can_review"] = has_role(request.user, project, Role.REVIEWER)
    # Annotators see their own row only; reviewers and owners see everyone's.
    context["annotators"] = annotator_stats.annotator_report(
        project, only_user_id=None if context["can_review"] else request.user.pk
    )
    return render(request, "labeling/dashboard.html", context)
