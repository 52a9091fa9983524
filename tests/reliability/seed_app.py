"""Run inside ``manage.py shell`` of a throwaway app: the shared cast's project with a few real images,
training on, and a session for the annotator. Prints JSON: ``{"session": key, "images": [ids]}``."""

import json

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore

from labelapp.images.services import image_add
from labelapp.projects.models import LabelClass, Membership, Project, Role
from tests.labelapp.images.helpers import demo_pngs

annotator = User.objects.create_user(username="anna-annotator", password="not-used-here-0")
project = Project.objects.create(slug="clothes", name="Clothes", image_size=28, grayscale=True, training_enabled=True)
for index, name in enumerate(["shirt", "trouser", "bag"]):
    LabelClass.objects.create(project=project, index=index, name=name, hotkey=str(index + 1))
Membership.objects.create(project=project, user=annotator, role=Role.ANNOTATOR)
images = [image_add(project=project, name=name, data=data)[0].pk for name, data in demo_pngs(4)]
session = SessionStore()
session["_auth_user_id"] = str(annotator.pk)
session["_auth_user_backend"] = settings.AUTHENTICATION_BACKENDS[0]
session["_auth_user_hash"] = annotator.get_session_auth_hash()
session.create()
print(json.dumps({"session": session.session_key, "images": images}))
