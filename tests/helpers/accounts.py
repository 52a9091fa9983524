"""The shared cast's accounts: one password for every test user, users, logged-in clients."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client

PASSWORD = "correct-horse-battery-staple"


def make_user(username: str) -> User:
    return User.objects.create_user(username=username, password=PASSWORD, email=f"{username}@example.com")


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client
