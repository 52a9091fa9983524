"""Project pages: list, create, detail, and the owners' settings, classes and members pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.forms.models import model_to_dict
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from labelapp.projects import forms, services
from labelapp.projects.models import Membership, Project, Role
from labelapp.projects.selectors import get_project_for_user, projects_for_user, role_of


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    return render(request, "projects/list.html", {"projects": projects_for_user(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request: HttpRequest) -> HttpResponse:
    """Any logged-in user may create a project and becomes its owner."""
    form = forms.ProjectCreateForm(request.POST or None, initial=model_to_dict(Project(), services.SETTINGS_FIELDS))
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        names, slug = data.pop("classes"), data.pop("slug")
        try:
            project = services.project_create(
                classes=services.default_class_specs(names), owner=request.user, slug=slug, **data
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Project “{project.name}” created. Next: upload images.")
            return redirect("projects:detail", slug=project.slug)
    return render(request, "projects/create.html", {"form": form})


@login_required
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    role = role_of(request.user, project)
    return render(request, "projects/detail.html", {
        "project": project,
        "role": role,
        "is_owner": role == Role.OWNER,
        "can_upload": role in (Role.OWNER, Role.REVIEWER),
        "classes": project.classes.all(),
    })


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug, minimum=Role.OWNER)
    form = forms.ProjectSettingsForm(request.POST or None, initial=model_to_dict(project, services.SETTINGS_FIELDS))
    if request.method == "POST" and form.is_valid():
        try:
            services.project_update(project=project, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Settings saved.")
            return redirect("projects:settings", slug=project.slug)
    return render(request, "projects/settings.html", {"project": project, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def project_classes(request: HttpRequest, slug: str) -> HttpResponse:
    """Rename, re-key, add and delete classes (deleting a class that has labels is refused)."""
    project = get_project_for_user(request.user, slug, minimum=Role.OWNER)
    initial = [{"pk": c.pk, "name": c.name, "hotkey": c.hotkey} for c in project.classes.all()]
    formset = forms.ClassFormSet(request.POST or None, initial=initial)
    if request.method == "POST" and formset.is_valid():
        specs = [spec for form in formset.forms if (spec := form.spec()) is not None]
        try:
            services.project_classes_update(project=project, classes=specs)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Classes saved.")
            return redirect("projects:classes", slug=project.slug)
    return render(request, "projects/classes.html", {"project": project, "formset": formset})


@login_required
@require_http_methods(["GET", "POST"])
def project_members(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: members with their roles. POST: add a member by username."""
    project = get_project_for_user(request.user, slug, minimum=Role.OWNER)
    form = forms.MemberAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = get_user_model().objects.filter(username=form.cleaned_data["username"]).first()
        if user is None:
            form.add_error("username", "No user has this username (site admins create accounts).")
        else:
            try:
                services.membership_add(project=project, user=user, role=form.cleaned_data["role"])
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"{user.username} added as {form.cleaned_data['role']}.")
                return redirect("projects:members", slug=project.slug)
    memberships = project.memberships.select_related("user").order_by("user__username")
    return render(request, "projects/members.html", {
        "project": project, "form": form, "memberships": memberships, "roles": Role.choices,
    })


def _owned_membership(request: HttpRequest, slug: str, membership_id: int) -> Membership:
    """A membership of a project the user owns (404 otherwise, also for ids of other projects)."""
    project = get_project_for_user(request.user, slug, minimum=Role.OWNER)
    return get_object_or_404(Membership.objects.select_related("user", "project"), project=project, pk=membership_id)


@login_required
@require_POST
def membership_role(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    membership = _owned_membership(request, slug, membership_id)
    form = forms.MemberRoleForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError("Choose one of the roles.")
        services.membership_set_role(membership=membership, role=form.cleaned_data["role"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{membership.user.username} is now {membership.role}.")
    return redirect("projects:members", slug=slug)


@login_required
@require_POST
def membership_remove(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    membership = _owned_membership(request, slug, membership_id)
    try:
        services.membership_remove(membership=membership)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{membership.user.username} removed from the project.")
    return redirect("projects:members", slug=slug)
