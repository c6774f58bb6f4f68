"""Webhook subscriptions: a partner subscribes through the API (the secret shown once, stored encrypted),
sees and changes only its own account's subscriptions; administrators manage them in the admin. In
production mode URLs that reach private, loopback, link-local or reserved addresses are refused."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from crm.models import User, WebhookSubscription
from tests.api.conftest import problem
from tests.api.webhooks_support import PARTNER_SCOPES, Receiver, client_for, olga_fixture, receiver_fixture, subscribe  # noqa: F401

SHOP_EVENTS = ["contact.created", "contact.updated", "order.created"]


def test_partner_subscribes_and_sees_the_secret_once(paul: User, receiver: Receiver) -> None:
    shop, key = client_for(paul, PARTNER_SCOPES)
    body = subscribe(shop, receiver, SHOP_EVENTS)
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert body["events"] == sorted(SHOP_EVENTS) and body["is_active"] is True
    assert body["secret_hint"] == "whsec_••••" + body["secret"][-4:]

    stored = WebhookSubscription.objects.get()
    assert stored.owner == paul and stored.api_key == key
    assert body["secret"] not in stored.secret_encrypted  # encrypted at rest

    again = shop.get(f"/api/v1/webhook-subscriptions/{body['id']}/").json()
    assert "secret" not in again and again["secret_hint"] == body["secret_hint"]
    listed = shop.get("/api/v1/webhook-subscriptions/").json()
    assert [s["id"] for s in listed["results"]] == [body["id"]]
    assert body["secret"] not in str(listed)

    catalogue = {e["event"] for e in shop.get("/api/v1/webhook-subscriptions/events/").json()}
    assert {"contact.merged", "order.deleted", "conversation.assigned", "message.status_changed"} <= catalogue

    rotated = shop.post(f"/api/v1/webhook-subscriptions/{body['id']}/rotate-secret/").json()["secret"]
    assert rotated != body["secret"]
    assert shop.get(f"/api/v1/webhook-subscriptions/{body['id']}/").json()["secret_hint"].endswith(rotated[-4:])


def test_partner_changes_and_removes_its_subscription(paul: User, receiver: Receiver) -> None:
    shop, _ = client_for(paul, PARTNER_SCOPES)
    created = subscribe(shop, receiver, SHOP_EVENTS)
    url = f"/api/v1/webhook-subscriptions/{created['id']}/"
    changed = shop.patch(url, {"events": ["order.updated"], "description": "ERP"}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["events"] == ["order.updated"] and changed.json()["description"] == "ERP"
    assert shop.delete(url).status_code == 204
    assert not WebhookSubscription.objects.exists()


def test_a_key_sees_only_its_own_accounts_subscriptions(paul: User, olga: User, receiver: Receiver) -> None:
    shop, _ = client_for(paul, PARTNER_SCOPES)
    marketing, _ = client_for(olga, PARTNER_SCOPES)
    pauls = subscribe(shop, receiver, SHOP_EVENTS)
    olgas = subscribe(marketing, receiver, ["contact.created"])

    assert [s["id"] for s in marketing.get("/api/v1/webhook-subscriptions/").json()["results"]] == [olgas["id"]]
    foreign = f"/api/v1/webhook-subscriptions/{pauls['id']}/"
    problem(marketing.get(foreign), 404)
    problem(marketing.patch(foreign, {"url": "http://127.0.0.1:9/steal"}, format="json"), 404)
    problem(marketing.delete(foreign), 404)
    problem(marketing.post(f"{foreign}rotate-secret/"), 404)
    assert WebhookSubscription.objects.get(pk=pauls["id"]).url == receiver.url


def test_scope_is_needed_and_read_scope_cannot_write(paul: User, receiver: Receiver) -> None:
    no_scope, _ = client_for(paul, ["contacts:write"])
    body = problem(no_scope.get("/api/v1/webhook-subscriptions/"), 403)
    assert "webhooks:read" in body["detail"]
    reader, _ = client_for(paul, ["webhooks:read"])
    assert reader.get("/api/v1/webhook-subscriptions/").status_code == 200
    problem(
        reader.post("/api/v1/webhook-subscriptions/", {"url": receiver.url, "events": SHOP_EVENTS}, format="json"), 403
    )


def test_a_key_subscribes_only_to_events_it_may_read(paul: User, receiver: Receiver) -> None:
    orders_only, _ = client_for(paul, ["webhooks:write", "orders:read"])
    refused = orders_only.post(
        "/api/v1/webhook-subscriptions/", {"url": receiver.url, "events": ["order.created", "contact.created"]},
        format="json",
    )  # fmt: skip
    body = problem(refused, 400)
    assert "contact.created needs the contacts:read scope" in body["errors"][0]["message"]
    created = subscribe(orders_only, receiver, ["order.created"])
    widened = orders_only.patch(
        f"/api/v1/webhook-subscriptions/{created['id']}/", {"events": ["contact.updated"]}, format="json"
    )
    problem(widened, 400)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"url": "http://127.0.0.1:9/x", "events": ["contact.exploded"]}, "events"),
        ({"url": "http://127.0.0.1:9/x", "events": []}, "events"),
        ({"url": "ftp://example.com/x", "events": ["contact.created"]}, "url"),
        ({"url": "http://127.0.0.1:9/x", "events": ["contact.created"], "secret": "mine"}, "secret"),
        ({"events": ["contact.created"]}, "url"),
    ],
)
def test_bad_subscriptions_are_refused_naming_the_field(paul: User, payload: dict[str, Any], field: str) -> None:
    shop, _ = client_for(paul, PARTNER_SCOPES)
    body = problem(shop.post("/api/v1/webhook-subscriptions/", payload, format="json"), 400)
    assert field in {e["field"] for e in body["errors"]}, body
    assert not WebhookSubscription.objects.exists()


def _fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in answers[host]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.partner.example/crm", "https"),
        ("https://127.0.0.1/crm", "private or reserved"),
        ("https://localhost/crm", "private or reserved"),
        ("https://10.1.2.3/crm", "private or reserved"),
        ("https://192.168.0.10:8443/crm", "private or reserved"),
        ("https://169.254.169.254/latest/meta-data", "private or reserved"),
        ("https://[::1]/crm", "private or reserved"),
        ("https://[::ffff:10.0.0.1]/crm", "private or reserved"),
        ("https://240.0.0.1/crm", "private or reserved"),
        ("https://sneaky.partner.example/crm", "10.0.0.7"),  # one public and one private address
        ("https://nowhere.invalid/crm", "cannot resolve"),
    ],
)
def test_production_refuses_urls_reaching_private_addresses(
    paul: User, settings: Any, monkeypatch: pytest.MonkeyPatch, url: str, reason: str
) -> None:
    settings.PRODUCTION = True
    _fake_dns(monkeypatch, {"sneaky.partner.example": ["93.184.216.34", "10.0.0.7"]})
    shop, _ = client_for(paul, PARTNER_SCOPES)
    body = problem(
        shop.post("/api/v1/webhook-subscriptions/", {"url": url, "events": ["contact.created"]}, format="json"), 400
    )
    assert body["errors"][0]["field"] == "url" and reason in body["errors"][0]["message"], body
    assert not WebhookSubscription.objects.exists()


def test_production_accepts_a_public_https_url_and_loopback_is_fine_outside_production(
    paul: User, settings: Any, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    shop, _ = client_for(paul, PARTNER_SCOPES)
    settings.PRODUCTION = False
    subscribe(shop, receiver, ["contact.created"])  # http://127.0.0.1:<port>/…

    settings.PRODUCTION = True
    _fake_dns(monkeypatch, {"hooks.partner.example": ["93.184.216.34"]})
    response = shop.post(
        "/api/v1/webhook-subscriptions/", {"url": "https://hooks.partner.example/crm", "events": ["contact.created"]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content


def test_administrator_creates_a_subscription_in_the_admin(
    ada: User, maria: User, paul: User, login: Callable[[User], Client], settings: Any
) -> None:
    admin = login(ada)
    form = {"owner": paul.pk, "url": "http://127.0.0.1:9/hooks", "events": ["contact.created", "order.updated"]}
    response = admin.post("/admin/crm/webhooksubscription/add/", {**form, "description": "Shop"}, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    subscription = WebhookSubscription.objects.get()
    assert subscription.owner == paul and subscription.created_by == ada
    assert "The signing secret is whsec_" in page
    secret = page.split("The signing secret is ", 1)[1].split(" ", 1)[0]
    change = admin.get(f"/admin/crm/webhooksubscription/{subscription.pk}/change/").content.decode()
    assert secret not in change and "whsec_••••" + secret[-4:] in change

    # Staff accounts are not partners; private URLs are refused in production; managers only look.
    staff = admin.post("/admin/crm/webhooksubscription/add/", {**form, "owner": maria.pk})
    assert "partner&#x27;s account" in staff.content.decode()
    settings.PRODUCTION = True
    private = admin.post("/admin/crm/webhooksubscription/add/", {**form, "url": "https://127.0.0.1/hooks"})
    assert "private or reserved" in private.content.decode()
    assert WebhookSubscription.objects.count() == 1
    assert login(maria).get("/admin/crm/webhooksubscription/add/").status_code == 403
    assert login(maria).get("/admin/crm/webhooksubscription/").status_code == 200
