"""Per-person statistics for the dashboard: labeling speed, how often a label was overturned, and agreement.

Everything is read from the label history (:class:`~labelapp.labeling.models.AnnotationEvent`) and the
current version's predictions with a handful of aggregate queries (GROUP BY in the database, a window
function for the active time), so the cost grows with the number of events but no Python loop walks them:
the Python side only folds the grouped rows (people × people × classes at most).

Definitions (the dashboard repeats them):

* **Labels**: a person's labeling actions that are still in the history (``labeled`` events not undone);
  relabeling an image counts again.
* **Active time**: the sum of the gaps between a person's consecutive labeling actions (labels and undos)
  in the project, counting only gaps up to ``idle_seconds`` (5 minutes); a longer gap is a break and counts
  nothing. Like a time tracker's idle timeout; the first label after a break is not timed.
  **Labels per hour** = labels / active hours.
* **Changed by a reviewer**: of a person's labels, those that someone else holding the reviewer or owner
  role (now) later replaced with another class, and that change was not undone.
* **Model contradicts**: of a person's labels still current, those whose image the current version predicts
  as another class with confidence ≥ τ (the project's threshold): the suspected-error rule.
* **Agreement** (Label Studio's pairwise agreement): for every image labeled by two or more people, each
  person's latest label of it is compared with every other person's; a person's agreement is the share of
  their pairs that agree, pooled over images (Label Studio averages per task first; with two people per
  image that is the same). Cohen's κ (Cohen 1960) is given per pair of people, over the images both labeled.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q

from labelapp.labeling.models import AnnotationEvent, Source
from labelapp.projects.models import Membership, Project, Role
from labelapp.training.models import Prediction

IDLE_SECONDS = 300  # a longer pause between two labeling actions is a break, not labeling time

LABELED = AnnotationEvent.Action.LABELED
UNDONE = AnnotationEvent.Action.UNDONE


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class PersonStats:
    """One person's numbers; the shares are ``None`` when their denominator is 0."""

    user_id: int
    username: str
    labels: int = 0
    active_seconds: float = 0.0
    changed: int = 0  # labels later changed by a reviewer or owner
    checked: int = 0  # labels still current that the current version predicts
    contradicted: int = 0  # of those, predicted as another class with confidence ≥ τ
    pairs: int = 0  # comparisons with another person's label of the same image
    agreed: int = 0

    @property
    def active_display(self) -> str:
        """The active time for a person to read: ``"55 s"``, ``"12 min"``, ``"3.4 h"``."""
        if self.active_seconds < 60:
            return f"{self.active_seconds:.0f} s"
        if self.active_seconds < 3600:
            return f"{self.active_seconds / 60:.0f} min"
        return f"{self.active_seconds / 3600:.1f} h"

    @property
    def labels_per_hour(self) -> float | None:
        return self.labels * 3600.0 / self.active_seconds if self.active_seconds > 0 else None

    @property
    def changed_share(self) -> float | None:
        return _share(self.changed, self.labels)

    @property
    def contradicted_share(self) -> float | None:
        return _share(self.contradicted, self.checked)

    @property
    def agreement(self) -> float | None:
        return _share(self.agreed, self.pairs)


@dataclass(frozen=True)
class PairStats:
    """Two people who labeled some of the same images: how often they agree, and Cohen's κ."""

    first: str
    second: str
    shared: int
    agreed: int
    kappa: float | None  # None when chance agreement is 1 (both always gave the same one class)

    @property
    def agreement(self) -> float:
        return self.agreed / self.shared


@dataclass(frozen=True)
class AnnotatorReport:
    people: list[PersonStats]
    pairs: list[PairStats]
    idle_seconds: int
    threshold: float
    shared_pairs: int = 0  # all comparisons (each unordered pair of people on one image once)
    shared_agreed: int = 0

    @property
    def agreement(self) -> float | None:
        return _share(self.shared_agreed, self.shared_pairs)


def _seconds_between(later: str, earlier: str) -> str:
    """SQL for the seconds from ``earlier`` to ``later`` (two timestamp expressions)."""
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later}) - ({earlier}))"
    return f"(julianday({later}) - julianday({earlier})) * 86400.0"  # SQLite keeps timestamps as ISO text


def _active_seconds(project: Project, idle_seconds: int) -> dict[int, float]:
    """Per person, the seconds between consecutive labeling actions, counting gaps up to ``idle_seconds``."""
    table = connection.ops.quote_name(AnnotationEvent._meta.db_table)
    gap = _seconds_between("created_at", "LAG(created_at) OVER (PARTITION BY user_id ORDER BY created_at, id)")
    sql = f"""
        SELECT user_id, SUM(CASE WHEN gap <= %s THEN gap ELSE 0 END)
        FROM (SELECT user_id, {gap} AS gap FROM {table}
              WHERE project_id = %s AND user_id IS NOT NULL AND action IN (%s, %s)) AS gaps
        GROUP BY user_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [idle_seconds, project.pk, LABELED, UNDONE])
        return {user_id: float(seconds or 0.0) for user_id, seconds in cursor.fetchall()}


def _label_counts(project: Project) -> dict[int, int]:
    rows = (
        AnnotationEvent.objects.filter(project=project, action=LABELED, undone=False, user__isnull=False)
        .values("user_id").annotate(n=Count("id")).values_list("user_id", "n")
    )
    return dict(rows)


def _reviewer_changes(project: Project) -> dict[int, int]:
    """Per person, how many of their human labels a reviewer or owner replaced with another class (not undone)."""
    reviewer = Membership.objects.filter(
        project=project, user_id=OuterRef("user_id"), role__in=[Role.OWNER, Role.REVIEWER]
    )
    rows = (
        AnnotationEvent.objects.filter(
            project=project, action=LABELED, undone=False, previous_source=Source.HUMAN,
            previous_annotator__isnull=False,
        )
        .exclude(user_id=F("previous_annotator_id"))
        .exclude(label_class_id=F("previous_class_id"))
        .filter(Exists(reviewer))
        .values("previous_annotator_id").annotate(n=Count("id")).values_list("previous_annotator_id", "n")
    )
    return dict(rows)


def _model_contradictions(project: Project) -> dict[int, tuple[int, int]]:
    """Per person: (their current human labels the current version predicts, those it confidently contradicts)."""
    if project.current_version_id is None:
        return {}
    rows = (
        Prediction.objects.filter(
            version_id=project.current_version_id,
            image__annotation__source=Source.HUMAN,
            image__annotation__annotator__isnull=False,
        )
        .values("image__annotation__annotator_id")
        .annotate(
            checked=Count("id"),
            contradicted=Count("id", filter=Q(confidence__gte=project.threshold)
                               & ~Q(predicted_index=F("image__annotation__label_class__index"))),
        )
        .values_list("image__annotation__annotator_id", "checked", "contradicted")
    )
    return {user_id: (checked, contradicted) for user_id, checked, contradicted in rows}


def _pair_tables(project: Project) -> dict[tuple[int, int], Counter]:
    """For each pair of people (lower id first), a count of (first's class, second's class) over the images
    both labeled, each person's latest label of the image (not undone) counting."""
    table = connection.ops.quote_name(AnnotationEvent._meta.db_table)
    # Only images whose labels come from two or more people reach the window and the self-join (MIN <> MAX
    # is a hashable test for "more than one user"); at 100k images that is what keeps the query near a second.
    sql = f"""
        WITH labels AS (
            SELECT id, image_id, user_id, label_class_id FROM {table}
            WHERE project_id = %s AND action = %s AND undone = %s AND user_id IS NOT NULL
        ), shared AS (
            SELECT image_id FROM labels GROUP BY image_id HAVING MIN(user_id) <> MAX(user_id)
        ), said AS (
            SELECT l.image_id, l.user_id, l.label_class_id,
                   ROW_NUMBER() OVER (PARTITION BY l.image_id, l.user_id ORDER BY l.id DESC) AS latest
            FROM labels l JOIN shared s ON s.image_id = l.image_id
        )
        SELECT a.user_id, b.user_id, a.label_class_id, b.label_class_id, COUNT(*)
        FROM said a JOIN said b ON a.image_id = b.image_id AND a.user_id < b.user_id
        WHERE a.latest = 1 AND b.latest = 1
        GROUP BY a.user_id, b.user_id, a.label_class_id, b.label_class_id
    """
    tables: dict[tuple[int, int], Counter] = defaultdict(Counter)
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.pk, LABELED, False])
        for first, second, first_class, second_class, n in cursor.fetchall():
            tables[(first, second)][(first_class, second_class)] += n
    return tables


def cohen_kappa(table: Counter) -> float | None:
    """Cohen's κ = (p_o − p_e) / (1 − p_e) of a table counting (rater A's class, rater B's class);
    ``None`` when p_e = 1 (κ is undefined: both raters used one and the same class throughout)."""
    n = sum(table.values())
    observed = sum(count for (a, b), count in table.items() if a == b) / n
    first: Counter[int] = Counter()  # class id: how often rater A gave it
    second: Counter[int] = Counter()
    for (a, b), count in table.items():
        first[a] += count
        second[b] += count
    expected = sum(first[k] * second[k] for k in first) / (n * n)
    return None if expected >= 1.0 else (observed - expected) / (1.0 - expected)


def annotator_report(project: Project, *, idle_seconds: int = IDLE_SECONDS, only_user_id: int | None = None) -> AnnotatorReport:
    """The dashboard's per-person table and pairwise agreement (``only_user_id``: that person's row and
    pairs only, for a viewer who may not see the others')."""
    labels = _label_counts(project)
    active = _active_seconds(project, idle_seconds)
    changed = _reviewer_changes(project)
    contradictions = _model_contradictions(project)
    tables = _pair_tables(project)
    pairs_of: Counter = Counter()
    agreed_of: Counter = Counter()
    for (first, second), table in tables.items():
        n, agreed = sum(table.values()), sum(c for (a, b), c in table.items() if a == b)
        for person in (first, second):
            pairs_of[person] += n
            agreed_of[person] += agreed
    people_ids = set(labels) | set(contradictions)
    if only_user_id is not None:
        people_ids &= {only_user_id}
    names = dict(get_user_model().objects.filter(pk__in=people_ids | {u for pair in tables for u in pair})
                 .values_list("pk", "username"))
    people = [
        PersonStats(
            user_id=user_id, username=names.get(user_id, "?"), labels=labels.get(user_id, 0),
            active_seconds=active.get(user_id, 0.0), changed=changed.get(user_id, 0),
            checked=contradictions.get(user_id, (0, 0))[0], contradicted=contradictions.get(user_id, (0, 0))[1],
            pairs=pairs_of[user_id], agreed=agreed_of[user_id],
        )
        for user_id in people_ids
    ]
    people.sort(key=lambda p: (-p.labels, p.username))
    pairs = []
    for (first, second), table in tables.items():
        if only_user_id is None or only_user_id in (first, second):
            name_a, name_b = sorted((names.get(first, "?"), names.get(second, "?")))
            pairs.append(PairStats(
                name_a, name_b, shared=sum(table.values()),
                agreed=sum(c for (a, b), c in table.items() if a == b), kappa=cohen_kappa(table),
            ))
    pairs.sort(key=lambda p: (-p.shared, p.first, p.second))
    return AnnotatorReport(
        people=people, pairs=pairs, idle_seconds=idle_seconds, threshold=project.threshold,
        shared_pairs=sum(p.shared for p in pairs), shared_agreed=sum(p.agreed for p in pairs),
    )
