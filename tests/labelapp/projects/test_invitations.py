"""Invitations: an owner makes an account for a person who has none, with a link that works once, for a while,
for one project and role; a revoked, used, expired or unknown link gets a page that says so."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from labelapp.projects.models import Invitation, Membership, Role
from labelapp.projects.services import (
    InvitationRefused,
    invitation_accept,
    invitation_create,
    invitation_digest,
    invitation_open,
    invitation_revoke,
)

NEW_PASSWORD = "a-long-new-passphrase-42"

pytestmark = pytest.mark.django_db


def accept_url(token: str) -> str:
    return reverse("projects:invitation_accept", args=[token])


def test_an_invitation_makes_an_inactive_account_and_keeps_only_the_tokens_digest(project, owner, settings):
    settings.INVITATION_DAYS = 3
    invitation, token = invitation_create(project=project, username="nina-new", role=Role.REVIEWER, invited_by=owner)

    user = User.objects.get(username="nina-new")
    assert (user.is_active, user.has_usable_password()) == (False, False)
    assert invitation.digest == invitation_digest(token) and token not in invitation.digest
    assert not Invitation.objects.filter(digest=token).exists()
    assert abs(invitation.expires_at - (timezone.now() + timedelta(days=3))) < timedelta(minutes=1)
    assert not Membership.objects.filter(user=user).exists()  # a member only once the link is used


def test_accepting_sets_the_password_activates_and_joins_that_project_with_the_role(project, owner):
    _, token = invitation_create(project=project, username="nina-new", role=Role.REVIEWER, invited_by=owner)

    user = invitation_accept(token=token, password=NEW_PASSWORD)

    user.refresh_from_db()
    assert user.is_active and user.check_password(NEW_PASSWORD)
    assert list(Membership.objects.filter(user=user).values_list("project_id", "role")) == [(project.pk, "reviewer")]
    assert Invitation.objects.get().used_at is not None


def test_a_link_works_once(project, owner):
    _, token = invitation_create(project=project, username="nina-new", role=Role.ANNOTATOR, invited_by=owner)
    invitation_accept(token=token, password=NEW_PASSWORD)

    with pytest.raises(InvitationRefused, match="already used") as refused:
        invitation_accept(token=token, password="another-long-passphrase-7")
    assert refused.value.status == 410
    assert User.objects.get(username="nina-new").check_password(NEW_PASSWORD)


def test_an_expired_link_is_refused(project, owner):
    invitation, token = invitation_create(project=project, username="nina-new", role=Role.ANNOTATOR, invited_by=owner)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    with pytest.raises(InvitationRefused, match="expired"):
        invitation_accept(token=token, password=NEW_PASSWORD)
    assert not User.objects.get(username="nina-new").is_active


def test_a_revoked_link_is_refused_and_its_unused_account_deleted(project, owner):
    invitation, token = invitation_create(project=project, username="nina-new", role=Role.ANNOTATOR, invited_by=owner)

    invitation_revoke(invitation=invitation, revoked_by=owner)

    assert not User.objects.filter(username="nina-new").exists()
    with pytest.raises(InvitationRefused, match="withdrawn"):
        invitation_open(token=token)
    invitation_create(project=project, username="nina-new", role=Role.ANNOTATOR, invited_by=owner)  # name free again


def test_a_used_invitation_cannot_be_revoked(project, owner):
    invitation, token = invitation_create(project=project, username="nina-new", role=Role.ANNOTATOR, invited_by=owner)
    invitation_accept(token=token, password=NEW_PASSWORD)

    with pytest.raises(ValidationError, match="already joined"):
        invitation_revoke(invitation=invitation, revoked_by=owner)
    assert User.objects.get(username="nina-new").is_active


def test_an_unknown_link_is_refused_as_not_found():
    with pytest.raises(InvitationRefused, match="not valid") as refused:
        invitation_open(token="not-a-token")
    assert refused.value.status == 404


@pytest.mark.parametrize("who", ["reviewer", "annotator", "outsider"])
def test_only_owners_of_the_project_invite_and_revoke(request, project, owner, who):
    someone = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        invitation_create(project=project, username="nina-new", role=Role.OWNER, invited_by=someone)
    invitation, _ = invitation_create(project=project, username="nina-new", role=Role.OWNER, invited_by=owner)
    with pytest.raises(PermissionDenied):
        invitation_revoke(invitation=invitation, revoked_by=someone)
    assert Invitation.objects.get().revoked_at is None


def test_an_existing_username_is_refused_whatever_its_case(project, owner, annotator):
    with pytest.raises(ValidationError, match="already has an account"):
        invitation_create(project=project, username=annotator.username.upper(), role=Role.ANNOTATOR, invited_by=owner)


@pytest.mark.parametrize("username", ["", "with space", "x" * 151, "semi;colon"])
def test_a_bad_username_is_refused(project, owner, username):
    with pytest.raises(ValidationError):
        invitation_create(project=project, username=username, role=Role.ANNOTATOR, invited_by=owner)
    assert not Invitation.objects.exists()


def test_the_invited_person_joins_only_the_inviting_project(project, other_project, owner, outsider):
    _, token = invitation_create(project=other_project, username="nina-new", role=Role.OWNER, invited_by=outsider)
    user = invitation_accept(token=token, password=NEW_PASSWORD)

    client = Client()
    client.force_login(user)
    assert client.get(reverse("projects:detail", args=[other_project.slug])).status_code == 200
    assert client.get(reverse("projects:detail", args=[project.slug])).status_code == 404


def test_an_owner_cannot_revoke_another_projects_invitation(project, other_project, outsider, owner_client):
    invitation, _ = invitation_create(project=other_project, username="nina-new", role=Role.OWNER, invited_by=outsider)

    answer = owner_client.post(reverse("projects:invitation_revoke", args=[project.slug, invitation.pk]))
    theirs = owner_client.post(reverse("projects:invitation_revoke", args=[other_project.slug, invitation.pk]))

    assert (answer.status_code, theirs.status_code) == (404, 404)
    assert Invitation.objects.get().revoked_at is None


def test_the_members_page_shows_the_link_once_and_lists_it_as_pending(project, owner_client):
    members = reverse("projects:members", args=[project.slug])
    made = owner_client.post(reverse("projects:invitation_create", args=[project.slug]),
                             {"username": "nina-new", "role": "annotator"})

    assert made.status_code == 201
    link = made.context["new_link"]
    assert link.startswith("http://testserver/accounts/invitation/") and link in made.content.decode()
    again = owner_client.get(members).content.decode()
    assert "/accounts/invitation/" not in again and "nina-new" in again  # pending, without its link


def test_a_non_owner_cannot_use_the_invite_form(project, reviewer_client):
    answer = reviewer_client.post(reverse("projects:invitation_create", args=[project.slug]),
                                  {"username": "nina-new", "role": "owner"})
    assert answer.status_code == 404
    assert not User.objects.filter(username="nina-new").exists()


def test_the_link_page_sets_the_password_logs_in_and_lands_in_the_project(project, owner):
    _, token = invitation_create(project=project, username="nina-new", role=Role.ANNOTATOR, invited_by=owner)
    client = Client()

    assert "nina-new" in client.get(accept_url(token)).content.decode()
    mismatch = client.post(accept_url(token), {"new_password1": NEW_PASSWORD, "new_password2": "other"})
    weak = client.post(accept_url(token), {"new_password1": "123", "new_password2": "123"})
    done = client.post(accept_url(token), {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert (mismatch.status_code, weak.status_code) == (400, 400)
    assert done.status_code == 302 and done.url == reverse("projects:detail", args=[project.slug])
    assert client.get(done.url).status_code == 200  # logged in, as a member
    used = client.get(accept_url(token))
    assert used.status_code == 410 and "already used" in used.content.decode()


@pytest.mark.parametrize("state, status, words", [
    ("unknown", 404, "not valid"), ("expired", 410, "has expired"), ("revoked", 410, "withdrawn"),
])
def test_a_dead_link_gets_a_page_that_says_why(project, owner, state, status, words):
    invitation, token = invitation_create(project=project, username="nina-new", role=Role.ANNOTATOR, invited_by=owner)
    if state == "unknown":
        token += "x"
    elif state == "expired":
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())
    else:
        invitation_revoke(invitation=invitation, revoked_by=owner)

    page = Client().get(accept_url(token))

    assert page.status_code == status and words in page.content.decode()
    assert "Go to the login page" in page.content.decode()  # a page with a way on, not a bare error


def test_guessing_links_is_throttled_like_logins(project, owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    _, token = invitation_create(project=project, username="nina-new", role=Role.ANNOTATOR, invited_by=owner)
    client = Client()

    statuses = [client.get(accept_url(f"guess-{n}")).status_code for n in range(4)]

    assert statuses == [404, 404, 404, 429]
    assert client.get(accept_url(token)).status_code == 429  # even a good link waits out the window
    assert Client(REMOTE_ADDR="10.0.0.9").get(accept_url(token)).status_code == 200  # another address is not held
