"""Writes for projects: creation, settings, classes, members, invitations, and the site admin account."""

from __future__ import annotations

import hashlib
import os
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Field
from django.utils import timezone
from django.utils.text import slugify

import sslengine
from labelapp.lib.users import User
from labelapp.projects.models import CLASS_NAME_MAX, Invitation, LabelClass, Membership, Project, Role
from labelapp.projects.selectors import has_role

# Hotkeys handed out in class order when none are given: 1-9 then 0 (Fashion-MNIST's ten classes fit).
DEFAULT_HOTKEYS = "1234567890"
# Settings an owner may change after creation (the slug is fixed: it is in every URL).
SETTINGS_FIELDS = (
    "name", "description", "algorithm", "backbone", "strategy", "threshold", "low_confidence_threshold",
    "image_size", "grayscale", "horizontal_flip", "show_model_guess", "holdout_fraction", "round_seconds",
)


# Bidirectional embeddings, overrides and isolates: they make a name display as something else.
BIDI_CONTROLS = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))


def class_name_problem(name: str) -> str:
    """Why ``name`` cannot be a class name ('' when it can): control characters (ANSI escapes start with
    one, ESC or CSI) and bidi overrides would reach terminals, spreadsheets and model cards as they are."""
    for ch in name:
        if unicodedata.category(ch) == "Cc":
            kind = "an ANSI escape" if ch in ("\x1b", "\x9b") else "a control character"
            return f"{kind} (U+{ord(ch):04X})"
        if ch in BIDI_CONTROLS:
            return f"a bidirectional text override (U+{ord(ch):04X})"
    return ""


@dataclass(frozen=True)
class ClassSpec:
    """One class as an owner wants it: ``pk`` names an existing class (rename/re-key), ``None`` a new one."""

    name: str
    hotkey: str = ""
    pk: int | None = None


def _check_engine_choices(project: Project) -> None:
    """Refuse an algorithm, backbone or strategy the engine does not register."""
    registries = {
        "algorithm": sslengine.list_algorithms(),
        "backbone": sslengine.list_backbones(),
        "strategy": sslengine.list_strategies(),
    }
    errors = {
        name: f"{getattr(project, name)!r} is not one of {', '.join(choices)}"
        for name, choices in registries.items()
        if getattr(project, name) not in choices
    }
    if errors:
        raise ValidationError(errors)


def _unique_slug(base: str) -> str:
    slug = slugify(base)[:56] or "project"
    candidate, n = slug, 2
    while Project.objects.filter(slug=candidate).exists():
        candidate, n = f"{slug}-{n}", n + 1
    return candidate


def _check_class_specs(specs: Sequence[ClassSpec]) -> None:
    if not specs:
        raise ValidationError("A project needs at least one class.")
    names = [spec.name.strip().lower() for spec in specs]
    if any(not name for name in names):
        raise ValidationError("Every class needs a name.")
    if any(len(name) > CLASS_NAME_MAX for name in names):
        raise ValidationError(f"A class name has at most {CLASS_NAME_MAX} characters.")
    for spec in specs:
        problem = class_name_problem(spec.name)
        if problem:
            raise ValidationError(f"The class name {spec.name.strip()!r} contains {problem}; remove it.")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValidationError(f"Class names must be unique: {', '.join(repeated)} appear more than once.")
    keys = [spec.hotkey.lower() for spec in specs if spec.hotkey]
    if any(len(key) != 1 or not key.isalnum() for key in keys):
        raise ValidationError("A hotkey is one letter or digit.")
    clashes = sorted({key for key in keys if keys.count(key) > 1})
    if clashes:
        raise ValidationError(f"Hotkeys must be unique: {', '.join(clashes)} is used twice.")


def default_class_specs(names: Sequence[str]) -> list[ClassSpec]:
    """Classes in the given order, with hotkeys 1-9, 0 for the first ten."""
    return [
        ClassSpec(name=name.strip(), hotkey=DEFAULT_HOTKEYS[i] if i < len(DEFAULT_HOTKEYS) else "")
        for i, name in enumerate(names)
    ]


@transaction.atomic
def project_create(
    *, name: str, classes: Sequence[ClassSpec], owner: User | None, slug: str = "", **settings: Any
) -> Project:
    """Create a project with its classes; ``owner`` (if any) becomes its first owner.

    ``settings`` are any of :data:`SETTINGS_FIELDS`; the engine's registries decide which
    algorithm, backbone and strategy names are valid.
    """
    _check_class_specs(classes)
    unknown = set(settings) - set(SETTINGS_FIELDS)
    if unknown:
        raise TypeError(f"unknown project settings: {sorted(unknown)}")
    if slug and Project.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"A project with the slug {slug!r} already exists."})
    project = Project(name=name.strip(), slug=slug or _unique_slug(name), created_by=owner, **settings)
    project.full_clean(exclude=["created_by"])  # a project made by a script may have no creator
    _check_engine_choices(project)
    project.save()
    LabelClass.objects.bulk_create(
        LabelClass(project=project, index=i, name=spec.name.strip(), hotkey=spec.hotkey.lower())
        for i, spec in enumerate(classes)
    )
    if owner is not None:
        Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    return project


@transaction.atomic
def project_update(*, project: Project, **changes: Any) -> Project:
    """Change an owner-editable setting (name, algorithm, thresholds, image size, ...)."""
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise TypeError(f"unknown project settings: {sorted(unknown)}")
    for name, value in changes.items():
        setattr(project, name, value)
    project.full_clean()
    _check_engine_choices(project)
    project.save(update_fields=list(changes))
    return project


@transaction.atomic
def project_classes_update(*, project: Project, classes: Sequence[ClassSpec]) -> None:
    """Rename, re-key, add and delete classes.

    Existing classes keep their order (their index is the model's output); new classes are appended.
    A class that has labels cannot be deleted (rename it instead). Deleting a class renumbers the
    ones after it, so the project's current model no longer matches its classes and is unset.
    """
    _check_class_specs(classes)
    existing = {label_class.pk: label_class for label_class in project.classes.select_for_update()}
    kept = [(spec.pk, spec) for spec in classes if spec.pk is not None]
    strangers = {pk for pk, _ in kept} - existing.keys()
    if strangers:
        raise ValidationError("Some classes do not belong to this project.")
    removed = [label_class for pk, label_class in existing.items() if pk not in {kept_pk for kept_pk, _ in kept}]
    labeled = [label_class.name for label_class in removed if label_class.annotations.exists()]
    if labeled:
        raise ValidationError(
            f"Cannot delete {', '.join(repr(name) for name in labeled)}: images are labeled with it. "
            "Rename the class instead, or relabel those images first."
        )
    for label_class in removed:
        label_class.delete()
    kept.sort(key=lambda pk_spec: existing[pk_spec[0]].index)
    # Two passes so that swapping names or indices never trips the unique constraints midway.
    for pk, _ in kept:
        temporary = {"index": 10_000 + existing[pk].index, "name": f"~renaming~{pk}~"}
        LabelClass.objects.filter(pk=pk).update(**temporary)
    ordered = [spec for _, spec in kept] + [spec for spec in classes if spec.pk is None]
    for index, spec in enumerate(ordered):
        values = {"index": index, "name": spec.name.strip(), "hotkey": spec.hotkey.lower()}
        if spec.pk is None:
            LabelClass.objects.create(project=project, **values)
        else:
            LabelClass.objects.filter(pk=spec.pk).update(**values)
    if removed and project.current_version_id is not None:
        project.current_version = None
        project.save(update_fields=["current_version"])


def label_class_add(*, project: Project, name: str) -> LabelClass:
    """Append a class to the project, with the first default hotkey still free (or none)."""
    _check_class_specs([ClassSpec(name=name)])
    classes = list(project.classes.all())
    if any(label_class.name.lower() == name.strip().lower() for label_class in classes):
        raise ValidationError(f"The project already has a class named {name!r}.")
    taken = {label_class.hotkey for label_class in classes}
    hotkey = next((key for key in DEFAULT_HOTKEYS if key not in taken), "")
    index = max((label_class.index for label_class in classes), default=-1) + 1
    return LabelClass.objects.create(project=project, index=index, name=name.strip(), hotkey=hotkey)


def _lock_memberships(project: Project) -> None:
    """Serialise the membership writes of one project: lock its row until the transaction ends.

    Every write below takes this lock first, so two owners demoting or removing each other at once run
    one after the other and the second sees the first's change (on PostgreSQL; SQLite serialises every
    write anyway). Locking the owner rows alone is not enough: an aggregate ``count()`` takes no row lock.
    """
    Project.objects.select_for_update().only("pk").get(pk=project.pk)


def _locked(membership: Membership) -> Membership:
    """``membership`` as it is now, read under the project's lock (the caller's copy may be stale)."""
    _lock_memberships(membership.project)
    return Membership.objects.select_related("project", "user").get(pk=membership.pk)


def _is_last_owner(membership: Membership) -> bool:
    owners = Membership.objects.filter(project_id=membership.project_id, role=Role.OWNER)
    return membership.role == Role.OWNER and not owners.exclude(pk=membership.pk).exists()


@transaction.atomic
def membership_add(*, project: Project, user: User, role: Role) -> Membership:
    """Give ``user`` a role in ``project``; refuses a user who is already a member."""
    _lock_memberships(project)
    if Membership.objects.filter(project=project, user=user).exists():
        raise ValidationError(f"{user} is already a member; change their role instead.")
    return Membership.objects.create(project=project, user=user, role=Role(role))


@transaction.atomic
def membership_set_role(*, membership: Membership, role: Role) -> Membership:
    """Change a member's role; the last owner cannot step down."""
    role = Role(role)
    current = _locked(membership)
    if role != Role.OWNER and _is_last_owner(current):
        raise ValidationError("The project needs at least one owner: add another owner first.")
    current.role = role
    current.save(update_fields=["role"])
    membership.role = role
    return current


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """Remove a member; the last owner cannot be removed."""
    try:
        current = _locked(membership)
    except Membership.DoesNotExist:
        return  # removed meanwhile (by another owner at the same moment): nothing left to do
    if _is_last_owner(current):
        raise ValidationError("The project needs at least one owner: add another owner first.")
    current.delete()


def invitation_digest(token: str) -> str:
    """What is stored of an invitation link's token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


class InvitationRefused(Exception):
    """An invitation link that does not open: ``str(error)`` says why for the person, ``status`` is the page's
    HTTP status (404 unknown, 410 used, revoked or expired)."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.status = status


def _require_owner(user: User, project: Project) -> None:
    if not has_role(user, project, Role.OWNER):
        raise PermissionDenied("Only the project's owners manage invitations.")


@transaction.atomic
def invitation_create(
    *, project: Project, username: str, role: Role, invited_by: User
) -> tuple[Invitation, str]:
    """Make an account for a person who has none yet and an invitation link to ``project`` as ``role``.

    The account is inactive and has no usable password until the link is opened; returns the invitation
    and the link's token, which is not stored (only its digest) and so can be shown only this once.
    The link expires after ``INVITATION_DAYS`` days.
    """
    _require_owner(invited_by, project)
    users = get_user_model()
    username = username.strip()
    username_field = users._meta.get_field(users.USERNAME_FIELD)
    assert isinstance(username_field, Field)  # USERNAME_FIELD names a column, never a relation
    username_field.run_validators(username)  # the account's own rules: length and allowed characters
    if not username:
        raise ValidationError("Give the new account a username.")
    if users.objects.filter(**{f"{users.USERNAME_FIELD}__iexact": username}).exists():
        raise ValidationError(
            f"{username!r} already has an account (or a pending invitation): add them as a member instead."
        )
    try:
        with transaction.atomic():  # a savepoint: another owner may take the same name at this moment
            user = users.objects.create_user(username=username, password=None, is_active=False)
    except IntegrityError:
        raise ValidationError(f"{username!r} was just taken: choose another username.") from None
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        project=project, user=user, username=username, role=Role(role), digest=invitation_digest(token),
        invited_by=invited_by,
        expires_at=timezone.now() + timedelta(days=django_settings.INVITATION_DAYS),
    )
    return invitation, token


def _check_open(invitation: Invitation | None) -> Invitation:
    """``invitation`` if its link still opens; :class:`InvitationRefused` saying why otherwise."""
    if invitation is None or (invitation.user is None and invitation.revoked_at is None):
        raise InvitationRefused("This invitation link is not valid: check that you copied all of it.", 404)
    if invitation.revoked_at is not None:
        raise InvitationRefused("This invitation was withdrawn by the project's owner: ask them for a new one.", 410)
    if invitation.used_at is not None:
        raise InvitationRefused(
            "This invitation link was already used: it works once. Log in with the password you chose.", 410
        )
    if invitation.expired:
        raise InvitationRefused("This invitation link has expired: ask the project's owner for a new one.", 410)
    return invitation


def invitation_open(*, token: str) -> Invitation:
    """The invitation whose link carries ``token``, if it still opens (:class:`InvitationRefused` otherwise)."""
    found = Invitation.objects.select_related("project", "user").filter(digest=invitation_digest(token)).first()
    return _check_open(found)


@transaction.atomic
def invitation_accept(*, token: str, password: str) -> User:
    """Use the link once: the account gets ``password`` (checked by the site's password validators), is
    activated and joins the invitation's project with its role. Returns the account, ready to log in."""
    digest = invitation_digest(token)
    found = Invitation.objects.select_for_update().filter(digest=digest).first()
    invitation = _check_open(found)  # under the row lock: a second tab with the same link is refused
    user = invitation.user
    assert user is not None  # _check_open refuses a link whose account is gone
    validate_password(password, user)
    user.set_password(password)
    user.is_active = True
    user.save(update_fields=["password", "is_active"])
    _lock_memberships(invitation.project)
    Membership.objects.update_or_create(
        project=invitation.project, user=user, defaults={"role": Role(invitation.role)}
    )
    invitation.used_at = timezone.now()
    invitation.save(update_fields=["used_at"])
    return user


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, revoked_by: User) -> None:
    """Withdraw a pending invitation: its link stops working and the account made for it, never used, is
    deleted (its username is free again). A used invitation cannot be revoked: remove the member instead."""
    _require_owner(revoked_by, invitation.project)
    current = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if current.used_at is not None:
        raise ValidationError(f"{current.username} already joined: remove them from the members instead.")
    if current.revoked_at is not None:
        return
    account = current.user
    current.revoked_at, current.user = timezone.now(), None
    current.save(update_fields=["revoked_at", "user"])
    if account is not None and not account.is_active and account.last_login is None:
        account.delete()


@dataclass(frozen=True)
class AdminLogin:
    """The site admin's login as ``make run`` prints it; ``password`` is None when it is not known here."""

    username: str
    password: str | None
    created: bool


def admin_account_ensure(*, username: str, password: str | None, password_file: Path) -> AdminLogin:
    """Make sure a superuser ``username`` exists.

    With ``password`` (from the environment) the account gets that password. Without it, a new
    account gets a generated password that is kept in ``password_file`` (mode 600) so it can be
    printed again on the next start.
    """
    users = get_user_model()
    user = users.objects.filter(username=username).first()
    if password:
        if user is None:
            users.objects.create_superuser(username=username, password=password, email="")
            return AdminLogin(username, password, created=True)
        if not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
        return AdminLogin(username, password, created=False)
    if user is not None:
        stored = password_file.read_text().strip() if password_file.exists() else None
        return AdminLogin(username, stored if stored and user.check_password(stored) else None, created=False)
    generated = secrets.token_urlsafe(12)
    password_file.unlink(missing_ok=True)
    fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(generated)
    users.objects.create_superuser(username=username, password=generated, email="")
    return AdminLogin(username, generated, created=True)
