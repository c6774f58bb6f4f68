"""Read an admin form page the way a browser submits it, so tests post complete, realistic data."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from django.test import Client


class _FormReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, Any] = {}
        self._select: str | None = None
        self._select_multiple = False
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in {"submit", "button", "file", "image"}:
                return
            if kind in {"checkbox", "radio"}:
                if "checked" in a:
                    self.data[name] = a.get("value", "on")
                return
            self.data[name] = a.get("value", "")
        elif tag == "select" and name:
            self._select, self._select_multiple = name, "multiple" in a
            self.data.setdefault(name, [] if self._select_multiple else "")
        elif tag == "option" and self._select and "selected" in a:
            if self._select_multiple:
                self.data[self._select].append(a.get("value", ""))
            else:
                self.data[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea] += data.lstrip("\n") if not self.data[self._textarea] else data


def form_data(client: Client, url: str) -> dict[str, Any]:
    """Every field of the admin form at ``url`` with its current value (templates of empty inlines dropped)."""
    response = client.get(url)
    assert response.status_code == 200, f"GET {url} -> {response.status_code}"
    reader = _FormReader()
    reader.feed(response.content.decode())
    return {k: v for k, v in reader.data.items() if "__prefix__" not in k and k != "csrfmiddlewaretoken"}


def errors_of(response: Any) -> str:
    """The admin's error messages on a re-displayed form, as text (for readable assertion failures)."""
    content: str = response.content.decode()
    chunks = [part.split("</ul>")[0] for part in content.split('class="errorlist')[1:]]
    return " | ".join(chunks)


def listed(client: Client, url: str) -> list[Any]:
    """The objects a changelist page shows (its current page)."""
    response = client.get(url)
    assert response.status_code == 200, f"GET {url} -> {response.status_code}"
    return list(response.context["cl"].result_list)
