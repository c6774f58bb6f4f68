"""Feed addresses: a feed URL is entered by staff, so in production it is fetched only over https and only
from hosts whose every address is public (the partner webhooks' policy, against SSRF). The URL is checked when
it is saved, again at every poll and at every redirect, and the request goes to the address that was checked.
A refused poll is recorded on the feed like any other fault. Outside production loopback works as before.

The network edge is faked as the webhook tests do: a fake DNS answers a public address for the feed's host,
and connections to that address are routed to the real test server on loopback (https, with a test CA).
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.test import Client
from django.utils import timezone

from crm.models import User
from social.models import Feed, Mention
from tests.listening.conftest import FeedServer, rss, running_feed_server

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.216.34"  # what the fake DNS answers for the feed's host: a public address
FEED_HOST = "feeds.example"


@dataclass
class Network:
    """The fake DNS (``answers``) and every address a connection was opened to (``connected``)."""

    answers: dict[str, list[str]] = field(default_factory=dict)
    connected: list[str] = field(default_factory=list)


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Network:
    state = Network()
    real_getaddrinfo, real_create_connection = socket.getaddrinfo, socket.create_connection

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in state.answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in state.answers[host]]
        return real_getaddrinfo(host, port, *args, **kwargs)

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        state.connected.append(address[0])
        # The "public" host is the test server on loopback.
        host = "127.0.0.1" if address[0] == PUBLIC else address[0]
        return real_create_connection((host, address[1]), *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return state


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate it signed for ``feeds.example``: (CA, certificate, key) files."""
    directory = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Feed test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, FEED_HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(FEED_HOST)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = (directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


@pytest.fixture
def public_feed_server(
    certificates: tuple[Path, Path, Path], network: Network, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FeedServer]:
    """``https://feeds.example:<port>``: a public address in DNS, a certificate our client trusts."""
    ca_file, certificate_file, key_file = certificates
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # read by ssl.create_default_context()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate_file, key_file)
    network.answers[FEED_HOST] = [PUBLIC]
    with running_feed_server(tls=context, host=FEED_HOST) as server:
        yield server


@pytest.fixture
def production(settings: Any) -> None:
    settings.PRODUCTION = True


def poll(feed: Feed) -> str:
    from social.listening.tasks import poll_feed

    result = poll_feed(feed.pk)
    feed.refresh_from_db()
    return result


def add_feed(client: Client, url: str) -> str:
    """Staff add a feed in the admin; the page that comes back."""
    form = {"name": "Reviews", "url": url, "is_active": "on", "poll_interval_minutes": "15"}
    response = client.post("/admin/social/feed/add/", {**form, "next_poll_at_0": "", "next_poll_at_1": ""}, follow=True)
    assert response.status_code == 200
    return str(response.content.decode())


UNSAFE = [
    ("http://feeds.example/rss.xml", "use an https:// URL"),
    ("https://127.0.0.1/rss.xml", "private or reserved address (127.0.0.1)"),
    ("https://localhost/rss.xml", "private or reserved address"),
    ("https://10.1.2.3/rss.xml", "private or reserved address (10.1.2.3)"),
    ("https://192.168.0.10:8443/rss.xml", "private or reserved address (192.168.0.10)"),
    ("https://169.254.169.254/latest/meta-data", "private or reserved address (169.254.169.254)"),
    ("https://[::1]/rss.xml", "private or reserved address"),
    ("https://intranet.example/rss.xml", "private or reserved address (10.0.0.7)"),  # one public, one private
]


@pytest.mark.parametrize(("url", "reason"), UNSAFE)
def test_production_refuses_to_save_a_feed_reaching_a_private_address(
    production: None, network: Network, ada: User, login: Callable[[User], Client], url: str, reason: str
) -> None:
    network.answers["feeds.example"] = [PUBLIC]
    network.answers["intranet.example"] = [PUBLIC, "10.0.0.7"]
    page = add_feed(login(ada), url)
    assert "This URL cannot be used: " in page and reason in page
    assert not Feed.objects.exists() and network.connected == []


def test_production_saves_a_public_https_feed_and_loopback_is_fine_outside_production(
    settings: Any, network: Network, ada: User, login: Callable[[User], Client], feed_server: FeedServer
) -> None:
    admin = login(ada)
    add_feed(admin, feed_server.url + "/rss.xml")  # http://127.0.0.1:<port>/rss.xml
    settings.PRODUCTION = True
    network.answers["feeds.example"] = [PUBLIC]
    page = add_feed(admin, "https://feeds.example/rss.xml")
    assert "cannot be used" not in page
    assert sorted(Feed.objects.values_list("url", flat=True)) == [
        feed_server.url + "/rss.xml",
        "https://feeds.example/rss.xml",
    ]


@pytest.mark.parametrize(("url", "reason"), UNSAFE)
def test_production_poll_of_a_private_address_is_refused_recorded_and_fetches_nothing(
    production: None, tasks: Any, network: Network, feed_server: FeedServer, url: str, reason: str
) -> None:
    # Saved before production was switched on (or before the rule existed).
    network.answers["feeds.example"] = [PUBLIC]
    network.answers["intranet.example"] = [PUBLIC, "10.0.0.7"]
    feed = Feed.objects.create(name="Old", url=url)
    assert poll(feed) == f"error: {feed.last_error}"  # and it did not raise
    assert feed.status == Feed.Status.ERROR and feed.last_error.startswith("refused: ") and reason in feed.last_error
    assert feed.consecutive_failures == 1 and feed.next_poll_at is not None
    assert feed.next_poll_at > timezone.now() + dt.timedelta(minutes=29)  # backing off: twice the interval
    assert network.connected == [] and Mention.objects.count() == 0


def test_production_poll_of_the_loopback_test_server_sends_it_nothing(
    production: None, tasks: Any, network: Network, feed_server: FeedServer, ada: User, login: Callable[[User], Client]
) -> None:
    feed_server.serve("/rss.xml", rss(("1", "acme", "secret internal news")))
    plain = Feed.objects.create(name="Plain", url=feed_server.url + "/rss.xml")
    https = Feed.objects.create(name="Https", url=feed_server.url.replace("http:", "https:") + "/rss.xml")
    assert poll(plain) == "error: refused: use an https:// URL"
    assert poll(https).startswith("error: refused: 127.0.0.1 resolves to a private or reserved address")
    assert feed_server.requests == [] and network.connected == [] and Mention.objects.count() == 0
    # Staff see why in the feed list.
    page = login(ada).get("/admin/social/feed/").content.decode()
    assert "refused: use an https:// URL" in page and "refused: 127.0.0.1 resolves to a private" in page


def test_production_fetches_a_public_feed_from_the_checked_address_with_conditional_get(
    production: None, tasks: Any, network: Network, public_feed_server: FeedServer
) -> None:
    url = public_feed_server.serve("/rss.xml", rss(("1", "Acme", "nice")), etag='"v1"')
    feed = Feed.objects.create(name="Public", url=url)
    assert poll(feed) == "created 1, duplicate 0, blocked 0"
    assert feed.status == Feed.Status.OK and feed.etag == '"v1"'
    assert network.connected == [PUBLIC]  # the checked address, not a second lookup
    assert public_feed_server.hits("/rss.xml")[0]["host"] == url.split("/")[2]  # the name, for virtual hosts
    assert poll(feed) == "not modified"
    assert public_feed_server.hits("/rss.xml")[1]["if-none-match"] == '"v1"'
    public_feed_server.serve("/rss.xml", rss(("1", "Acme", "nice"), ("2", "Acme", "again")))
    assert poll(feed) == "created 1, duplicate 1, blocked 0"


def test_production_refuses_a_host_that_now_resolves_to_a_private_address(
    production: None, tasks: Any, network: Network, public_feed_server: FeedServer
) -> None:
    feed = Feed.objects.create(name="Public", url=public_feed_server.serve("/rss.xml", rss(("1", "Acme", "x"))))
    assert poll(feed) == "created 1, duplicate 0, blocked 0"
    network.answers[FEED_HOST] = ["127.0.0.1"]  # the feed's DNS now points at our own machine
    assert poll(feed) == "error: refused: feeds.example resolves to a private or reserved address (127.0.0.1)"
    assert feed.status == Feed.Status.ERROR and feed.consecutive_failures == 1
    assert len(public_feed_server.hits("/rss.xml")) == 1 and network.connected == [PUBLIC]
    network.answers[FEED_HOST] = [PUBLIC]  # back to normal: the next poll clears the error
    assert poll(feed) == "created 0, duplicate 1, blocked 0"
    assert feed.status == Feed.Status.OK and feed.last_error == "" and feed.consecutive_failures == 0


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("https://10.0.0.5/rss.xml", "private or reserved address (10.0.0.5)"),
        ("https://169.254.169.254/latest/meta-data", "private or reserved address (169.254.169.254)"),
        ("https://internal.example/rss.xml", "internal.example resolves to a private or reserved address"),
        ("{plain}/rss.xml", "use an https:// URL"),  # the loopback test server, over http
        ("https://127.0.0.1:{port}/rss.xml", "private or reserved address (127.0.0.1)"),
    ],
)
def test_production_redirect_to_a_private_address_is_refused(
    production: None,
    tasks: Any,
    network: Network,
    public_feed_server: FeedServer,
    feed_server: FeedServer,
    location: str,
    reason: str,
) -> None:
    network.answers["internal.example"] = ["192.168.1.20"]
    feed_server.serve("/rss.xml", rss(("1", "acme", "internal")))
    port = feed_server.url.rsplit(":", 1)[1]
    url = public_feed_server.serve(
        "/start.xml", b"", status=302, location=location.format(plain=feed_server.url, port=port)
    )
    feed = Feed.objects.create(name="Bouncing", url=url)
    assert poll(feed).startswith("error: refused: ")
    assert feed.status == Feed.Status.ERROR and reason in feed.last_error
    assert len(public_feed_server.hits("/start.xml")) == 1 and feed_server.requests == []
    assert network.connected == [PUBLIC] and Mention.objects.count() == 0


def test_production_redirect_within_public_hosts_is_followed(
    production: None, tasks: Any, network: Network, public_feed_server: FeedServer
) -> None:
    public_feed_server.serve("/rss.xml", rss(("1", "Acme", "moved")))
    url = public_feed_server.serve("/old.xml", b"", status=301, location="/rss.xml")
    feed = Feed.objects.create(name="Moved", url=url)
    assert poll(feed) == "created 1, duplicate 0, blocked 0"
    assert network.connected == [PUBLIC, PUBLIC] and feed.url == url


def test_outside_production_loopback_redirects_and_fallback_addresses_work(
    tasks: Any, network: Network, feed_server: FeedServer
) -> None:
    feed_server.serve("/rss.xml", rss(("1", "Acme", "local")))
    moved = Feed.objects.create(name="Moved", url=feed_server.serve("/old.xml", b"", status=301, location="/rss.xml"))
    assert poll(moved) == "created 1, duplicate 0, blocked 0"
    looping = Feed.objects.create(
        name="Loop", url=feed_server.serve("/loop.xml", b"", status=302, location="/loop.xml")
    )
    assert poll(looping) == "error: more than 5 redirects"
    assert len(feed_server.hits("/loop.xml")) == 6
    # A host with two addresses, the first one refusing connections (nothing listens on 127.0.0.2).
    port = feed_server.url.rsplit(":", 1)[1]
    network.answers["local.example"] = ["127.0.0.2", "127.0.0.1"]
    feed_server.serve("/other.xml", rss(("2", "Acme", "other")))
    two = Feed.objects.create(name="Two addresses", url=f"http://local.example:{port}/other.xml")
    assert poll(two) == "created 1, duplicate 0, blocked 0"
    assert network.connected[-2:] == ["127.0.0.2", "127.0.0.1"]
