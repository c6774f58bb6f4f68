"""Incremental sync: cursor pages in (updated_at, id) order; writes during the pull neither skip nor repeat
records; cursors are signed; the settle horizon keeps uncommitted-looking rows for the next pull."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from crm.models import Contact
from tests.api.conftest import problem


def pull(shop: Any, cursor: str | None, limit: int = 3) -> dict[str, Any]:
    url = f"/api/v1/contacts/?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
    response = shop.get(url)
    assert response.status_code == 200, response.content
    return response.json()  # type: ignore[no-any-return]


def test_writes_while_paging_are_neither_missed_nor_repeated(partner: Any, make_contact: Any) -> None:
    contacts = [make_contact(f"C{i}", "Sync") for i in range(10)]
    shop = partner()
    seen: list[int] = []
    page = pull(shop, None)
    seen += [r["id"] for r in page["results"]]
    # While the partner pulls: a record it already has changes, one it has not seen yet changes, one is created,
    # one it has not seen is deleted.
    shop.patch(f"/api/v1/contacts/{contacts[0].pk}/", {"job_title": "CEO"}, format="json")
    shop.patch(f"/api/v1/contacts/{contacts[5].pk}/", {"job_title": "CTO"}, format="json")
    new = shop.post("/api/v1/contacts/", {"first_name": "New"}, format="json").json()["id"]
    shop.delete(f"/api/v1/contacts/{contacts[7].pk}/")
    while page["has_more"]:
        page = pull(shop, page["next_cursor"])
        seen += [r["id"] for r in page["results"]]
    expected_unchanged = [c.pk for c in contacts if c.pk not in {contacts[0].pk, contacts[5].pk, contacts[7].pk}]
    # Every unchanged record exactly once; the changed ones delivered (again) after the change; the deleted one gone.
    for pk in expected_unchanged:
        assert seen.count(pk) == 1, pk
    assert seen.count(contacts[5].pk) == 1 and seen[-3:] == [contacts[0].pk, contacts[5].pk, new]
    assert contacts[7].pk not in seen[3:]
    # The last cursor resumes later: only what changed since.
    last = page["next_cursor"]
    assert pull(shop, last)["results"] == []
    shop.patch(f"/api/v1/contacts/{contacts[2].pk}/", {"job_title": "CFO"}, format="json")
    assert [r["id"] for r in pull(shop, last)["results"]] == [contacts[2].pk]


def test_records_with_the_same_updated_at_are_paged_by_id(partner: Any, make_contact: Any) -> None:
    contacts = [make_contact(f"T{i}", "Tie") for i in range(5)]
    Contact.objects.update(updated_at=timezone.now() - dt.timedelta(minutes=1))
    shop = partner(["contacts:read"])
    first = pull(shop, None, limit=2)
    rest = pull(shop, first["next_cursor"], limit=10)
    assert [r["id"] for r in first["results"] + rest["results"]] == [c.pk for c in contacts]


def test_tampered_or_foreign_cursors_are_refused(partner: Any, make_contact: Any) -> None:
    for i in range(3):
        make_contact(f"X{i}")
    shop = partner(["contacts:read"])
    cursor = pull(shop, None, limit=1)["next_cursor"]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert problem(shop.get(f"/api/v1/contacts/?cursor={tampered}"), 400)["type"].endswith("invalid_cursor")
    other_order = shop.get(f"/api/v1/contacts/?cursor={cursor}&ordering=-updated_at")
    assert "ordering" in problem(other_order, 400)["detail"]
    problem(shop.get("/api/v1/contacts/?limit=5000"), 400)


def test_rows_younger_than_the_settle_horizon_wait_for_the_next_pull(
    partner: Any, make_contact: Any, settings: Any
) -> None:
    old = make_contact("Old")
    Contact.objects.filter(pk=old.pk).update(updated_at=timezone.now() - dt.timedelta(minutes=1))
    make_contact("Fresh")
    settings.API_SYNC_SETTLE_SECONDS = 30
    shop = partner(["contacts:read"])
    assert [r["first_name"] for r in pull(shop, None)["results"]] == ["Old"]
