"""Staff define monitors in the admin; a malformed query is refused with a message pointing at the column."""

from __future__ import annotations

from typing import Any

from social.models import Monitor


def _post(client: Any, **values: Any) -> Any:
    data = {"name": "Acme brand", "kind": "brand", "query": "acme", "languages": "", "is_active": "on", **values}
    return client.post("/admin/social/monitor/add/", data)


def test_valid_monitor_is_saved_with_filters(ada: Any, login: Any) -> None:
    client = login(ada)
    response = _post(
        client, query='(acme OR "acme bikes" OR #acmebikes) -jobs', languages="EN, de", source_kinds=["feed", "partner"]
    )
    assert response.status_code == 302
    monitor = Monitor.objects.get()
    assert monitor.languages == ["en", "de"] and monitor.source_kinds == ["feed", "partner"]
    page = client.get(f"/admin/social/monitor/{monitor.pk}/change/").content.decode()
    assert 'value="en, de"' in page


def test_malformed_query_is_refused_with_its_column(ada: Any, login: Any) -> None:
    client = login(ada)
    response = _post(client, query="acme OR (bikes AND)")
    assert response.status_code == 200
    assert "unexpected &#x27;)&#x27; at column 19" in response.content.decode()
    response = _post(client, query='acme "big bikes')
    assert "unclosed quote starting at column 6" in response.content.decode()
    response = _post(client, query="NOT spam")
    assert "would match every mention" in response.content.decode()
    assert not Monitor.objects.exists()


def test_bad_language_code_is_refused(ada: Any, login: Any) -> None:
    response = _post(login(ada), languages="english")
    assert response.status_code == 200 and "not a two-letter language code: english" in response.content.decode()
    assert not Monitor.objects.exists()


def test_read_only_staff_cannot_add_monitors(rita: Any, login: Any) -> None:
    client = login(rita)
    assert client.get("/admin/social/monitor/").status_code == 200
    assert _post(client).status_code == 403
