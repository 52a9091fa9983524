"""The shared cast: owner, reviewer, annotator and outsider of one project with three classes."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from labelapp.projects.models import LabelClass, Membership, Project, Role
from tests.helpers.accounts import logged_in, make_user


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The default hasher takes ~0.4 s per user on this CPU; tests only need passwords to check."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_cache():
    """Login failure counts (labelapp.lib.login_throttle) live in the local-memory cache: no test inherits them."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def owner(db) -> User:
    return make_user("olivia-owner")


@pytest.fixture
def reviewer(db) -> User:
    return make_user("rita-reviewer")


@pytest.fixture
def annotator(db) -> User:
    return make_user("anna-annotator")


@pytest.fixture
def outsider(db) -> User:
    return make_user("oscar-outsider")


@pytest.fixture
def project(owner: User, reviewer: User, annotator: User) -> Project:
    project = Project.objects.create(slug="clothes", name="Clothes", created_by=owner, image_size=28, grayscale=True)
    for index, (name, key) in enumerate([("shirt", "1"), ("trouser", "2"), ("bag", "3")]):
        LabelClass.objects.create(project=project, index=index, name=name, hotkey=key)
    for user, role in [(owner, Role.OWNER), (reviewer, Role.REVIEWER), (annotator, Role.ANNOTATOR)]:
        Membership.objects.create(project=project, user=user, role=role)
    return project


@pytest.fixture
def other_project(outsider: User) -> Project:
    """A project the outsider owns and nobody of the cast belongs to."""
    project = Project.objects.create(slug="elsewhere", name="Elsewhere", created_by=outsider)
    LabelClass.objects.create(project=project, index=0, name="cat", hotkey="1")
    Membership.objects.create(project=project, user=outsider, role=Role.OWNER)
    return project


@pytest.fixture
def owner_client(owner: User) -> Client:
    return logged_in(owner)


@pytest.fixture
def reviewer_client(reviewer: User) -> Client:
    return logged_in(reviewer)


@pytest.fixture
def annotator_client(annotator: User) -> Client:
    return logged_in(annotator)


@pytest.fixture
def outsider_client(outsider: User) -> Client:
    return logged_in(outsider)
