"""Project setup by owners: creation, settings from the engine's registries, classes, members."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

import sslengine
from labelapp.images.services import image_add
from labelapp.labeling.models import Annotation
from labelapp.projects.models import LabelClass, Membership, Project, Role
from labelapp.projects.services import ClassSpec, project_classes_update
from tests.helpers import classes_post
from tests.labelapp.images.helpers import demo_pngs


def class_rows(project):
    return list(project.classes.order_by("index").values_list("index", "name", "hotkey"))


def test_any_user_creates_a_project_and_becomes_its_owner(outsider_client, outsider):
    response = outsider_client.post(reverse("projects:create"), {
        "name": "Birds of Europe", "slug": "", "classes": "robin\nwren\n\nblackbird\n",
        "algorithm": "simmatch", "backbone": "cnn-small", "strategy": "margin", "threshold": "0.9",
        "low_confidence_threshold": "0.4", "image_size": "32", "holdout_fraction": "0.1", "round_seconds": "30",
    })

    project = Project.objects.get(slug="birds-of-europe")
    assert response.status_code == 302 and response["Location"] == reverse("projects:detail", args=[project.slug])
    assert class_rows(project) == [(0, "robin", "1"), (1, "wren", "2"), (2, "blackbird", "3")]
    assert (project.algorithm, project.strategy, project.threshold) == ("simmatch", "margin", 0.9)
    assert Membership.objects.get(project=project).user == outsider
    assert Membership.objects.get(project=project).role == Role.OWNER


def test_setup_choices_come_from_the_engine_registries(owner_client, project):
    form = owner_client.get(reverse("projects:settings", args=[project.slug])).context["form"]

    assert [c for c, _ in form.fields["algorithm"].choices] == sslengine.list_algorithms()
    assert [c for c, _ in form.fields["backbone"].choices] == sslengine.list_backbones()
    assert [c for c, _ in form.fields["strategy"].choices] == sslengine.list_strategies()
    assert form.initial["threshold"] == 0.95


def test_owner_changes_settings_and_an_unknown_algorithm_is_refused(owner_client, project):
    url = reverse("projects:settings", args=[project.slug])
    values = {"name": "Clothes v2", "algorithm": "fixmatch", "backbone": "cnn-small", "strategy": "entropy",
              "threshold": "0.97", "low_confidence_threshold": "0.3", "image_size": "28", "grayscale": "on",
              "holdout_fraction": "0", "round_seconds": "20"}

    assert owner_client.post(url, values).status_code == 302
    refused = owner_client.post(url, values | {"algorithm": "made-up", "name": "Changed"})

    project.refresh_from_db()
    assert (project.name, project.threshold, project.strategy, project.round_seconds) == ("Clothes v2", 0.97, "entropy", 20)
    assert refused.status_code == 200 and "algorithm" in refused.context["form"].errors


def test_the_horizontal_flip_setting_is_off_by_default_and_reaches_the_engine_configs(owner_client, project):
    from labelapp.training.services import pretrain_config, trainer_config

    url = reverse("projects:settings", args=[project.slug])
    assert owner_client.get(url).context["form"].initial["horizontal_flip"] is False
    assert (trainer_config(project=project, num_classes=3).hflip, pretrain_config(project=project).hflip) == (False, False)
    values = {"name": project.name, "algorithm": "fixmatch", "backbone": "cnn-small", "strategy": "pool-first",
              "threshold": "0.95", "low_confidence_threshold": "0.5", "image_size": "32", "horizontal_flip": "on",
              "holdout_fraction": "0", "round_seconds": "60"}

    assert owner_client.post(url, values).status_code == 302
    project.refresh_from_db()
    assert project.horizontal_flip is True
    assert (trainer_config(project=project, num_classes=3).hflip, pretrain_config(project=project).hflip) == (True, True)


def test_new_projects_label_pool_first(outsider_client):
    assert Project().strategy == "pool-first"
    form = outsider_client.get(reverse("projects:create")).context["form"]
    assert form.initial["strategy"] == "pool-first"


@pytest.mark.parametrize("client_name", ["annotator_client", "reviewer_client", "outsider_client"])
def test_only_owners_reach_settings_classes_and_members(request, project, client_name):
    client = request.getfixturevalue(client_name)
    for name in ("projects:settings", "projects:classes", "projects:members"):
        assert client.get(reverse(name, args=[project.slug])).status_code == 404
        assert client.post(reverse(name, args=[project.slug]), {"name": "x", "username": "x"}).status_code == 404
    assert Project.objects.get(pk=project.pk).name == "Clothes"


def test_owner_renames_rekeys_and_adds_classes_after_labels_exist(owner_client, project):
    shirt, trouser, bag = project.classes.order_by("index")
    image, _ = image_add(project=project, name="a.png", data=demo_pngs(1)[0][1])
    Annotation.objects.create(project=project, image=image, label_class=trouser)
    rows = [(shirt.pk, "trouser", "t", False), (trouser.pk, "shirt", "s", False), (bag.pk, "bag", "3", False),
            ("", "sock", "4", False)]

    response = owner_client.post(reverse("projects:classes", args=[project.slug]), classes_post(project, rows))

    assert response.status_code == 302
    assert class_rows(project) == [(0, "trouser", "t"), (1, "shirt", "s"), (2, "bag", "3"), (3, "sock", "4")]
    assert Annotation.objects.get().label_class_id == trouser.pk  # the label follows the class, not the name


def test_deleting_a_class_with_labels_is_refused_with_a_clear_message(owner_client, project):
    shirt, trouser, bag = project.classes.order_by("index")
    image, _ = image_add(project=project, name="a.png", data=demo_pngs(1)[0][1])
    Annotation.objects.create(project=project, image=image, label_class=trouser)
    rows = [(shirt.pk, "shirt", "1", False), (trouser.pk, "trouser", "2", True), (bag.pk, "bag", "3", False)]

    response = owner_client.post(reverse("projects:classes", args=[project.slug]), classes_post(project, rows),
                                 follow=True)

    assert "Cannot delete &#x27;trouser&#x27;: images are labeled with it" in response.content.decode()
    assert class_rows(project) == [(0, "shirt", "1"), (1, "trouser", "2"), (2, "bag", "3")]


def test_deleting_an_unused_class_renumbers_the_rest(project):
    shirt, trouser, bag = project.classes.order_by("index")

    project_classes_update(project=project, classes=[ClassSpec("shirt", "1", shirt.pk), ClassSpec("bag", "2", bag.pk)])

    assert class_rows(project) == [(0, "shirt", "1"), (1, "bag", "2")]
    assert not LabelClass.objects.filter(pk=trouser.pk).exists()


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([ClassSpec("a", "1"), ClassSpec("A", "2")], "unique"),
        ([ClassSpec("a", "1"), ClassSpec("b", "1")], "Hotkeys must be unique"),
        ([], "at least one class"),
    ],
)
def test_invalid_class_lists_are_refused(project, specs, message):
    with pytest.raises(ValidationError, match=message):
        project_classes_update(project=project, classes=specs)
    assert len(class_rows(project)) == 3


def test_owner_adds_changes_and_removes_members(owner_client, project, outsider, annotator):
    members = reverse("projects:members", args=[project.slug])
    owner_client.post(members, {"username": outsider.username, "role": "reviewer"})
    outsider_membership = Membership.objects.get(project=project, user=outsider)
    annotator_membership = Membership.objects.get(project=project, user=annotator)

    owner_client.post(reverse("projects:membership_role", args=[project.slug, outsider_membership.pk]), {"role": "owner"})
    owner_client.post(reverse("projects:membership_remove", args=[project.slug, annotator_membership.pk]))
    unknown = owner_client.post(members, {"username": "nobody", "role": "annotator"})

    assert Membership.objects.get(project=project, user=outsider).role == Role.OWNER
    assert not Membership.objects.filter(project=project, user=annotator).exists()
    assert "No user has this username" in unknown.content.decode()


def test_the_last_owner_cannot_be_removed_or_demoted(owner_client, project, owner):
    membership = Membership.objects.get(project=project, user=owner)

    demote = owner_client.post(reverse("projects:membership_role", args=[project.slug, membership.pk]),
                               {"role": "annotator"}, follow=True)
    remove = owner_client.post(reverse("projects:membership_remove", args=[project.slug, membership.pk]), follow=True)

    assert "needs at least one owner" in demote.content.decode()
    assert "needs at least one owner" in remove.content.decode()
    assert Membership.objects.get(pk=membership.pk).role == Role.OWNER


def test_membership_ids_of_another_project_give_404(owner_client, project, other_project):
    theirs = Membership.objects.get(project=other_project)

    response = owner_client.post(reverse("projects:membership_remove", args=[project.slug, theirs.pk]))

    assert response.status_code == 404 and Membership.objects.filter(pk=theirs.pk).exists()


def test_project_page_shows_counts_classes_and_owner_links(owner_client, annotator_client, project):
    image_add(project=project, name="a.png", data=demo_pngs(1)[0][1])

    owner_page = owner_client.get(reverse("projects:detail", args=[project.slug])).content.decode()
    annotator_page = annotator_client.get(reverse("projects:detail", args=[project.slug])).content.decode()

    assert 'id="count-images">1<' in owner_page and "<kbd>2</kbd> trouser" in owner_page
    assert reverse("projects:members", args=[project.slug]) in owner_page
    assert reverse("projects:members", args=[project.slug]) not in annotator_page
    assert reverse("images:upload", args=[project.slug]) not in annotator_page


def test_create_project_command(owner):
    call_command("create_project", "pets", classes="cat, dog,bird", owner=owner.username, algorithm="supervised",
                 stdout=None)

    project = Project.objects.get(slug="pets")
    assert class_rows(project) == [(0, "cat", "1"), (1, "dog", "2"), (2, "bird", "3")]
    assert project.algorithm == "supervised" and Membership.objects.get(project=project).user == owner


def test_create_project_command_refuses_a_taken_slug_and_unknown_owner(project):
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_project", project.slug, classes="a,b")
    with pytest.raises(CommandError, match="no user"):
        call_command("create_project", "fresh", classes="a,b", owner="ghost")
    assert not Project.objects.filter(slug="fresh").exists()


def test_site_admin_manages_projects_and_images_in_django_admin(client, project, django_user_model):
    admin = django_user_model.objects.create_superuser("site-admin", password="x", email="")
    image, _ = image_add(project=project, name="a.png", data=demo_pngs(1)[0][1])
    client.force_login(admin)

    for url in ("/admin/projects/project/", f"/admin/projects/project/{project.pk}/change/",
                "/admin/projects/membership/", "/admin/images/image/", f"/admin/images/image/{image.pk}/change/"):
        assert client.get(url).status_code == 200, url


def test_staff_pages_are_closed_to_project_members(owner_client):
    assert owner_client.get("/admin/projects/project/").status_code == 302
