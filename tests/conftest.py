"""The shared cast: owner, reviewer, annotator and outsider of one project with three classes."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db.backends.postgresql.operations import DatabaseOperations as PostgresOperations
from django.test import Client

from labelapp.projects.models import LabelClass, Membership, Project, Role
from tests.helpers.accounts import logged_in, make_user

_postgres_sql_flush = PostgresOperations.sql_flush


def _sql_flush_by_delete(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    """The flush after each transactional test (``django_db(transaction=True)``) as DELETEs, as Django's SQLite
    backend does it, instead of PostgreSQL's one TRUNCATE: the TRUNCATE of the 26 tables took 0.7-1.0 s a
    test on this machine (it replaces every table's and index's files), the DELETEs of the few rows a test
    leaves 6 ms. Rows, sequences (not reset either way) and the post_migrate signal are as before; Django's
    foreign keys are deferrable, so the order does not matter within the flush's transaction. A flush that
    resets sequences or cascades keeps Django's TRUNCATE."""
    if reset_sequences or allow_cascade or not tables:
        return _postgres_sql_flush(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    delete = f"{style.SQL_KEYWORD('DELETE')} {style.SQL_KEYWORD('FROM')}"
    return ["SET CONSTRAINTS ALL DEFERRED;", *(f"{delete} {style.SQL_FIELD(self.quote_name(table))};" for table in tables)]


PostgresOperations.sql_flush = _sql_flush_by_delete


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The default hasher takes ~0.4 s per user on this CPU; tests only need passwords to check."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_cache():
    """Login failure counts (labelapp.lib.login_throttle) live in the local-memory cache: no test inherits them."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test gets its own channel layer instance: channels_redis keeps per-channel receive locks on the
    layer, and a consumer left waiting when a test's event loop closed would leave one bound to that loop for
    the next test's consumers ("bound to a different event loop")."""
    from channels.layers import channel_layers

    yield
    channel_layers.backends.clear()


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
