"""Project pages: list, create, detail, the owners' settings, classes and members pages, and the page an
invitation link opens."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import ValidationError
from django.forms.models import model_to_dict
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from labelapp.lib.login_throttle import client_ip, login_attempt_count, login_locked
from labelapp.lib.users import AuthenticatedHttpRequest
from labelapp.projects import forms, services
from labelapp.projects.models import Invitation, Membership, Project, Role
from labelapp.projects.selectors import get_project_for_user, invitations_pending, projects_for_user, role_of

# Failed invitation links share the login throttle's counter under a name no username can have (it has a
# space), so a guesser gets LOGIN_FAILURE_LIMIT wrong links per address and LOGIN_LOCKOUT_SECONDS.
INVITATION_THROTTLE_NAME = "invitation link"


@login_required
def project_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "projects/list.html", {"projects": projects_for_user(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request: AuthenticatedHttpRequest) -> HttpResponse:
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
def project_detail(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
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
def project_settings(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
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
def project_classes(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
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


def _members_page(
    request: HttpRequest, project: Project, *, form: forms.MemberAddForm | None = None,
    invite_form: forms.InviteForm | None = None, new_link: str = "", invited: Invitation | None = None,
    status: int = 200,
) -> HttpResponse:
    memberships = project.memberships.select_related("user").order_by("user__username")
    return render(request, "projects/members.html", {
        "project": project, "form": form or forms.MemberAddForm(), "invite_form": invite_form or forms.InviteForm(),
        "memberships": memberships, "roles": Role.choices, "invitations": invitations_pending(project),
        "new_link": new_link, "invited": invited, "invitation_days": settings.INVITATION_DAYS,
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def project_members(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """GET: members with their roles and pending invitations. POST: add a member by username."""
    project = get_project_for_user(request.user, slug, minimum=Role.OWNER)
    form = forms.MemberAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = get_user_model().objects.filter(username=form.cleaned_data["username"]).first()
        if user is None:
            form.add_error("username", "No user has this username: invite the person below to make their account.")
        elif not user.is_active:
            form.add_error("username", f"{user.username}'s account is not active (an invitation not yet opened?).")
        else:
            try:
                services.membership_add(project=project, user=user, role=form.cleaned_data["role"])
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"{user.username} added as {form.cleaned_data['role']}.")
                return redirect("projects:members", slug=project.slug)
    return _members_page(request, project, form=form)


@login_required
@require_POST
def invitation_create(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """Make an account and its invitation link; the link is in this response only (201), never again."""
    project = get_project_for_user(request.user, slug, minimum=Role.OWNER)
    invite_form = forms.InviteForm(request.POST)
    if invite_form.is_valid():
        try:
            invitation, token = services.invitation_create(
                project=project, username=invite_form.cleaned_data["username"],
                role=invite_form.cleaned_data["role"], invited_by=request.user,
            )
        except ValidationError as exc:
            invite_form.add_error("username", exc)
        else:
            link = request.build_absolute_uri(reverse("projects:invitation_accept", args=[token]))
            return _members_page(request, project, new_link=link, invited=invitation, status=201)
    return _members_page(request, project, invite_form=invite_form, status=400)


@login_required
@require_POST
def invitation_revoke(request: AuthenticatedHttpRequest, slug: str, invitation_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, slug, minimum=Role.OWNER)
    invitation = get_object_or_404(Invitation.objects.select_related("project"), project=project, pk=invitation_id)
    try:
        services.invitation_revoke(invitation=invitation, revoked_by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Invitation of {invitation.username} revoked: its link no longer works.")
    return redirect("projects:members", slug=slug)


def _invitation_refused(request: HttpRequest, reason: str, status: int) -> HttpResponse:
    return render(request, "registration/invitation_invalid.html", {"reason": reason}, status=status)


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The page an invitation link opens: choose a password, then land in the project, logged in.

    Unknown, used, revoked and expired links get a page that says which (404 or 410); after
    LOGIN_FAILURE_LIMIT failed links from one address within LOGIN_LOCKOUT_SECONDS it answers 429.
    """
    source = f"ip:{client_ip(request)}"
    if login_locked(username=INVITATION_THROTTLE_NAME, source=source):
        minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
        return _invitation_refused(
            request, f"Too many invalid invitation links from your address: try again in {minutes} minutes.", 429
        )
    try:
        invitation = services.invitation_open(token=token)
    except services.InvitationRefused as refused:
        login_attempt_count(username=INVITATION_THROTTLE_NAME, source=source)
        return _invitation_refused(request, str(refused), refused.status)
    assert invitation.user is not None  # invitation_open refuses a link whose account is gone
    form = SetPasswordForm(invitation.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept(token=token, password=form.cleaned_data["new_password1"])
        except services.InvitationRefused as refused:  # used meanwhile, e.g. in another tab
            return _invitation_refused(request, str(refused), refused.status)
        except ValidationError as exc:
            form.add_error("new_password2", exc)
        else:
            login(request, user)
            messages.success(request, f"Welcome, {user.get_username()}: you are a member of "
                                      f"{invitation.project.name} as {invitation.role}.")
            return redirect("projects:detail", slug=invitation.project.slug)
    return render(request, "registration/invitation_accept.html", {
        "form": form, "invitation": invitation,
    }, status=400 if form.errors else 200)


def _owned_membership(request: HttpRequest, slug: str, membership_id: int) -> Membership:
    """A membership of a project the user owns (404 otherwise, also for ids of other projects)."""
    project = get_project_for_user(request.user, slug, minimum=Role.OWNER)
    return get_object_or_404(Membership.objects.select_related("user", "project"), project=project, pk=membership_id)


@login_required
@require_POST
def membership_role(request: AuthenticatedHttpRequest, slug: str, membership_id: int) -> HttpResponse:
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
def membership_remove(request: AuthenticatedHttpRequest, slug: str, membership_id: int) -> HttpResponse:
    membership = _owned_membership(request, slug, membership_id)
    try:
        services.membership_remove(membership=membership)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{membership.user.username} removed from the project.")
    return redirect("projects:members", slug=slug)
