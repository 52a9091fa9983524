"""The last-owner rule holds under concurrency on PostgreSQL: owners demoting or removing each other at the
same moment never leave a project without an owner.

Each thread has its own database connection and the test commits for real (``transaction=True``), so the
row locks of ``labelapp.projects.services`` are exercised as in production. SQLite serialises every write
transaction, so there is nothing to race there.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from labelapp.projects import services
from labelapp.projects.models import LabelClass, Membership, Project, Role
from tests.helpers.accounts import make_user

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row-lock concurrency needs PostgreSQL (SQLite serialises writes); CI runs it with DATABASE_URL",
    ),
]

PROJECTS = 30


def _two_owner_projects() -> list[tuple[Membership, Membership]]:
    first, second = make_user("first-owner"), make_user("second-owner")
    pairs = []
    for number in range(PROJECTS):
        project = Project.objects.create(slug=f"race-{number}", name=f"Race {number}", created_by=first)
        LabelClass.objects.create(project=project, index=0, name="cat", hotkey="1")
        pairs.append((
            Membership.objects.create(project=project, user=first, role=Role.OWNER),
            Membership.objects.create(project=project, user=second, role=Role.OWNER),
        ))
    return pairs


def _race(pairs, change) -> None:
    """Run ``change(membership)`` on both owners of every project at once, two threads per project."""
    barriers = [threading.Barrier(2) for _ in pairs]

    def run(job: tuple[int, Membership]) -> None:
        number, membership = job
        try:
            barriers[number].wait()
            change(membership)
        except ValidationError:
            pass  # the loser of the race is told the project needs an owner
        finally:
            connections.close_all()  # this thread's connection

    jobs = [(number, membership) for number, pair in enumerate(pairs) for membership in pair]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(run, jobs))


def _projects_without_owner() -> list[str]:
    owned = set(Membership.objects.filter(role=Role.OWNER).values_list("project__slug", flat=True))
    return sorted(set(Project.objects.values_list("slug", flat=True)) - owned)


def test_owners_demoting_each_other_at_once_leave_one_owner():
    pairs = _two_owner_projects()
    _race(pairs, lambda membership: services.membership_set_role(membership=membership, role=Role.ANNOTATOR))
    assert _projects_without_owner() == []


def test_owners_removing_each_other_at_once_leave_one_owner():
    pairs = _two_owner_projects()
    _race(pairs, lambda membership: services.membership_remove(membership=membership))
    assert _projects_without_owner() == []


def test_a_demotion_racing_a_removal_leaves_one_owner():
    pairs = _two_owner_projects()

    def change(membership: Membership) -> None:
        if membership.user.username == "first-owner":
            services.membership_set_role(membership=membership, role=Role.REVIEWER)
        else:
            services.membership_remove(membership=membership)

    _race(pairs, change)
    assert _projects_without_owner() == []
