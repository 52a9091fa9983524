"""Reads about projects, always scoped to what the user may see."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.http import Http404

from labelapp.lib.users import User
from labelapp.projects.models import Invitation, Membership, Project, Role

# Each role includes the rights of the roles after it.
ROLE_RANK = {Role.OWNER: 3, Role.REVIEWER: 2, Role.ANNOTATOR: 1}

# A request's user: the scoping reads refuse anonymous visitors themselves.
AnyUser = User | AnonymousUser


def projects_for_user(user: AnyUser) -> QuerySet[Project]:
    """Projects the user belongs to (site admins see every project)."""
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def role_of(user: AnyUser, project: Project) -> Role | None:
    """The user's role in the project, ``OWNER`` for site admins, ``None`` for outsiders."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.OWNER
    membership = Membership.objects.filter(project=project, user=user).only("role").first()
    return Role(membership.role) if membership else None


def has_role(user: AnyUser, project: Project, minimum: Role) -> bool:
    """Whether the user's role in the project is at least ``minimum``."""
    role = role_of(user, project)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[minimum]


def get_project_for_user(user: AnyUser, slug: str, minimum: Role = Role.ANNOTATOR) -> Project:
    """The project if the user holds at least ``minimum`` in it; 404 otherwise (never 403, so ids don't leak)."""
    project = projects_for_user(user).filter(slug=slug).first()
    if project is None or not has_role(user, project, minimum):
        raise Http404("No such project")
    return project


def invitations_pending(project: Project) -> QuerySet[Invitation]:
    """The project's invitations not yet used or revoked, newest first (expired ones included: an owner
    revokes them to free the username)."""
    return project.invitations.filter(used_at__isnull=True, revoked_at__isnull=True).select_related("invited_by")
