"""Project pages: list, detail."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from labelapp.projects.selectors import get_project_for_user, projects_for_user


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    return render(request, "projects/list.html", {"projects": projects_for_user(request.user)})


@login_required
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    return render(request, "projects/detail.html", {"project": project})
