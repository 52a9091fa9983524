"""Annotator statistics: labels per hour over active time, labels overturned by reviewers or the model, and
pairwise agreement with Cohen's κ, against the hand-worked history in ``annotator_history``."""

from __future__ import annotations

from collections import Counter

import pytest
from django.urls import reverse

from labelapp.labeling.annotator_stats import annotator_report, cohen_kappa
from labelapp.labeling.services import annotation_submit
from tests.labelapp.labeling.annotator_history import EXPECTED, EXPECTED_PAIRS, seed_history
from tests.labelapp.labeling.helpers import add_images

pytestmark = pytest.mark.django_db


def test_each_persons_numbers_match_the_hand_worked_history(project, annotator, reviewer):
    seed_history(project, annotator, reviewer)

    report = annotator_report(project)

    assert [p.username for p in report.people] == list(EXPECTED)  # most labels first
    for person in report.people:
        expected = EXPECTED[person.username]
        assert person.labels == expected["labels"]
        assert person.active_seconds == pytest.approx(expected["active_seconds"], abs=1e-3)
        assert f"{person.labels_per_hour:.0f}" == expected["per_hour"]
        assert person.active_display == f"{expected['active_seconds']:.0f} s"
        assert (person.changed, person.labels) == expected["changed"]
        assert (person.contradicted, person.checked) == expected["contradicted"]
        assert (person.agreed, person.pairs) == expected["agreement"]


def test_pairs_agree_as_worked_by_hand_with_cohens_kappa(project, annotator, reviewer):
    seed_history(project, annotator, reviewer)

    pairs = {frozenset((p.first, p.second)): p for p in annotator_report(project).pairs}

    assert set(pairs) == {frozenset(key) for key in EXPECTED_PAIRS}
    for key, (shared, agreed, kappa) in EXPECTED_PAIRS.items():
        pair = pairs[frozenset(key)]
        assert (pair.shared, pair.agreed) == (shared, agreed)
        assert pair.kappa == pytest.approx(kappa)


def test_kappa_is_one_for_perfect_agreement_zero_at_chance_and_undefined_for_one_shared_class():
    assert cohen_kappa(Counter({(0, 0): 5, (1, 1): 5})) == pytest.approx(1.0)
    assert cohen_kappa(Counter({(0, 0): 1, (0, 1): 1, (1, 0): 1, (1, 1): 1})) == pytest.approx(0.0)
    assert cohen_kappa(Counter({(0, 0): 4})) is None


def test_an_annotator_sees_only_their_own_row_and_pairs(project, annotator, reviewer):
    people = seed_history(project, annotator, reviewer)

    report = annotator_report(project, only_user_id=people["ben"].pk)

    assert [p.username for p in report.people] == ["ben-annotator"]
    assert [(p.first, p.second) for p in report.pairs] == [("anna-annotator", "ben-annotator")]


def test_no_history_gives_an_empty_report(project):
    report = annotator_report(project)
    assert (report.people, report.pairs, report.agreement) == ([], [], None)


def test_the_report_takes_a_fixed_number_of_queries_whatever_the_history(
    project, annotator, reviewer, django_assert_max_num_queries
):
    seed_history(project, annotator, reviewer)
    with django_assert_max_num_queries(6):  # one per figure and one for the names: no query per row
        annotator_report(project)


def test_the_dashboard_shows_everyone_to_a_reviewer_and_only_themselves_to_an_annotator(
    project, annotator, reviewer, reviewer_client, annotator_client
):
    seed_history(project, annotator, reviewer)
    url = reverse("labeling:dashboard", args=[project.slug])

    for_reviewer = reviewer_client.get(url).content.decode()
    for_annotator = annotator_client.get(url).content.decode()

    assert all(f'data-person="{name}"' in for_reviewer for name in EXPECTED)
    assert 'data-person="anna-annotator"' in for_annotator
    assert 'data-person="ben-annotator"' not in for_annotator


def test_labels_of_another_project_do_not_count(project, other_project, annotator, reviewer, outsider):
    seed_history(project, annotator, reviewer)
    image = add_images(other_project, 1)[0]
    annotation_submit(project=other_project, image=image, label_class=other_project.classes.get(), user=outsider,
                      expected_revision=None)

    assert [p.username for p in annotator_report(other_project).people] == ["oscar-outsider"]
    assert "oscar-outsider" not in {p.username for p in annotator_report(project).people}
