"""People in Chromium (issue 15, items 11 and 14): an owner invites a person who has no account, the link is
shown once, the person opens it in a fresh browser, chooses a password and lands in the project as a member;
the dashboard shows each person's statistics for a seeded history."""

from __future__ import annotations

import pytest

from labelapp.projects.models import Membership
from tests.helpers import signed_in_page
from tests.labelapp.labeling.annotator_history import EXPECTED, seed_history

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VIEWPORT = {"width": 1280, "height": 860}
NEW_PASSWORD = "a-long-new-passphrase-42"


def test_owner_invites_a_new_person_who_sets_a_password_and_lands_in_the_project(
    browser, live_server, project, owner, screenshot
):
    page = signed_in_page(browser, live_server.url, owner, viewport=VIEWPORT, timeout_ms=20_000)
    members = f"{live_server.url}/p/{project.slug}/members/"
    page.goto(members)
    page.fill("#invite-form input[name=username]", "nina-new")
    page.select_option("#invite-form select[name=role]", "reviewer")
    page.click("#invite-form button[type=submit]")
    page.wait_for_selector("#new-invitation")
    link = page.input_value("#invitation-link")
    assert link.startswith(f"{live_server.url}/accounts/invitation/")
    assert page.evaluate("document.activeElement.id") == "invitation-link"  # selected, ready to copy
    screenshot(page, "members-invitation-link")

    page.goto(members)  # shown once: the pending row stays, its link does not
    assert page.locator("#new-invitation").count() == 0
    assert link not in page.content()
    assert page.locator('#invitations tr[data-invitation="nina-new"]').is_visible()
    screenshot(page, "members-pending-invitation")

    fresh = browser.new_context(viewport=VIEWPORT)  # the invited person's own browser: no session
    guest = fresh.new_page()
    guest.set_default_timeout(20_000)
    guest.goto(link)
    assert guest.text_content("#invited-username") == "nina-new"
    screenshot(guest, "invitation-accept")
    guest.fill("input[name=new_password1]", NEW_PASSWORD)
    guest.fill("input[name=new_password2]", NEW_PASSWORD)
    guest.click("button[type=submit]")
    guest.wait_for_url(f"{live_server.url}/p/{project.slug}/")
    assert "Welcome, nina-new" in guest.content()
    assert guest.text_content(".topbar .who") == "nina-new"
    screenshot(guest, "invitation-landed")
    assert Membership.objects.get(user__username="nina-new", project=project).role == "reviewer"

    guest.goto(link)  # used: a clear page, not a form
    assert "already used" in guest.text_content("#invitation-refused")
    screenshot(guest, "invitation-used")
    page.goto(members)
    assert page.locator('#invitations tr[data-invitation="nina-new"]').count() == 0  # no longer pending
    fresh.close()
    page.context.close()


def test_dashboard_shows_each_persons_statistics_for_a_seeded_history(
    browser, live_server, project, owner, annotator, reviewer, screenshot
):
    seed_history(project, annotator, reviewer)
    page = signed_in_page(browser, live_server.url, owner, viewport=VIEWPORT, timeout_ms=20_000)
    page.goto(f"{live_server.url}/p/{project.slug}/dashboard/")
    table = page.locator("#annotator-stats")
    table.scroll_into_view_if_needed()

    rows = table.locator("tbody tr")
    assert [rows.nth(i).get_attribute("data-person") for i in range(rows.count())] == list(EXPECTED)
    for name, expected in EXPECTED.items():
        row = table.locator(f'tr[data-person="{name}"]')

        def cell(stat: str, row=row) -> str:
            return row.locator(f'[data-stat="{stat}"]').inner_text().strip()

        assert cell("labels") == str(expected["labels"])
        assert cell("active") == f"{expected['active_seconds']:.0f} s"
        assert cell("per-hour") == expected["per_hour"]
        assert cell("changed").endswith("({}/{})".format(*expected["changed"]))
        assert cell("contradicted").endswith("({}/{})".format(*expected["contradicted"]))
        assert cell("agreement").endswith("({}/{})".format(*expected["agreement"]))
    assert table.locator('tr[data-person="anna-annotator"] [data-stat="changed"]').inner_text().startswith("17%")
    pairs = page.locator("#pair-stats")
    assert pairs.locator('[data-stat="kappa"]').all_inner_texts() == ["0.50", "0.33"]
    page.locator("#annotators").screenshot(path=str(screenshot(page, "dashboard-annotators").with_name(
        "dashboard-annotators-section.png")))
    page.context.close()
