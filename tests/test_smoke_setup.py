"""The project boots: settings from the environment, the shared cast, scoped project pages."""

from django.urls import reverse


def test_outsider_gets_404_for_a_project_page(project, outsider_client):
    assert outsider_client.get(reverse("projects:detail", args=[project.slug])).status_code == 404


def test_member_sees_the_project_page(project, annotator_client):
    assert annotator_client.get(reverse("projects:detail", args=[project.slug])).status_code == 200


def test_anonymous_visitor_is_sent_to_login(client, project):
    response = client.get(reverse("projects:detail", args=[project.slug]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
