"""Login budget under parallel guesses, and no lockout of the owner's own browser (issue 14, item 1)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from tests.helpers.accounts import PASSWORD
from tests.reliability.hashers import CountingHasher

GUESSES = 20


def log_in(client: Client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def parallel_guesses(path: str, username: str, count: int) -> list[int]:
    """``count`` wrong-password posts to ``path`` from one address, released at once from as many threads."""
    start = threading.Barrier(count)
    statuses: list[int] = []

    def guess(n: int) -> None:
        client = Client()
        start.wait()
        try:
            statuses.append(client.post(path, {"username": username, "password": f"wrong-{n}"},
                                        REMOTE_ADDR="10.0.0.9").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


@pytest.mark.parametrize("path", ["/api/token/", "/accounts/login/"])
def test_it_checks_at_most_the_limit_of_parallel_guesses(path, transactional_db, owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 5
    settings.PASSWORD_HASHERS = ["tests.reliability.hashers.CountingHasher"]
    owner.set_password(PASSWORD)
    owner.save()
    CountingHasher.checks = 0

    statuses = parallel_guesses(path, owner.username, GUESSES)

    assert len(statuses) == GUESSES
    assert CountingHasher.checks <= settings.LOGIN_FAILURE_LIMIT  # before the fix: all 20 reached the hasher
    right = Client().post(path, {"username": owner.username, "password": PASSWORD}, REMOTE_ADDR="10.0.0.9")
    assert right.status_code in (400, 429) and "_auth_user_id" not in right.client.session
    assert CountingHasher.checks <= settings.LOGIN_FAILURE_LIMIT  # the locked right password was not checked


def test_a_stranger_at_the_owners_address_cannot_lock_the_owners_browser_out(owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 5
    browser = Client()
    assert log_in(browser, owner.username, PASSWORD).status_code == 302  # an earlier login leaves a device cookie
    browser.post("/accounts/logout/")

    stranger = Client()  # same address (a shared NAT, a proxy, the same machine), no device cookie
    for _ in range(5):
        log_in(stranger, owner.username, "wrong")
    assert log_in(stranger, owner.username, PASSWORD).status_code == 429  # the protection holds for strangers

    assert log_in(browser, owner.username, PASSWORD).status_code == 302  # the owner still gets in
    assert "_auth_user_id" in browser.session


def test_a_device_cookie_has_a_budget_of_its_own_and_only_for_its_username(owner, reviewer, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    browser = Client()
    assert log_in(browser, owner.username, PASSWORD).status_code == 302
    browser.post("/accounts/logout/")
    for _ in range(3):
        log_in(browser, owner.username, "wrong")  # a stolen cookie guesses no more than anyone else
    assert log_in(browser, owner.username, PASSWORD).status_code == 429

    for _ in range(3):
        log_in(browser, reviewer.username, "wrong")  # the owner's cookie is no pass for another username
    assert log_in(Client(), reviewer.username, PASSWORD).status_code == 429
