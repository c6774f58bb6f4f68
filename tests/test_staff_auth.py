"""Staff sign-in through allauth: password, password reset by e-mail, TOTP with recovery codes, mandatory
two-factor (STAFF_REQUIRE_2FA), login rate limits, and no self sign-up. Every step is a real request."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.core import mail
from django.core.cache import cache
from django.http import HttpResponse
from django.test import Client

from crm.models import User
from tests.conftest import PASSWORD

LOGIN_URL = "/accounts/login/"
MFA_AUTHENTICATE_URL = "/accounts/2fa/authenticate/"
TOTP_ACTIVATE_URL = "/accounts/2fa/totp/activate/"
RECOVERY_CODES_URL = "/accounts/2fa/recovery-codes/"
TOTP_PERIOD = 30  # allauth's default MFA_TOTP_PERIOD; the settings do not change it


@pytest.fixture(autouse=True)
def _fresh_cache_fast_hashes(db: None, settings) -> Iterator[None]:
    # Rate-limit counters and used TOTP codes live in the cache: no test may inherit another's.
    # (Autouse fixtures run first, so the personas' passwords are hashed with the fast test hasher too;
    # the production hasher would spend half a second on every one of the many sign-ins below.)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


# --- Helpers: what a person does in the browser ---------------------------------------------------------


def sign_in(client: Client, login: str, password: str, next_url: str = "/admin/") -> HttpResponse:
    return client.post(f"{LOGIN_URL}?next={next_url}", {"login": login, "password": password})


def is_signed_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def totp_code(secret: str, *, valid_for_at_least: float = 3.0) -> str:
    """The code an authenticator app shows now; waits for the next period when this one is about to end, so
    the code is still the current one when the server checks it (allauth's tolerance is 0 periods)."""
    remaining = TOTP_PERIOD - time.time() % TOTP_PERIOD
    if remaining < valid_for_at_least:
        time.sleep(remaining + 0.05)
    return format_hotp_value(hotp_value(secret, int(time.time()) // TOTP_PERIOD))


def reauthenticate(client: Client, password: str = PASSWORD) -> None:
    """allauth asks for the password again before security settings change (MFA_REAUTHENTICATION_REQUIRED)."""
    response = client.post("/accounts/reauthenticate/", {"password": password})
    assert response.status_code == 302, response.content.decode()[-1500:]


def activate_totp(client: Client) -> tuple[str, list[str]]:
    """Sets up TOTP for the signed-in user as a person would; returns the secret and the recovery codes shown."""
    response = client.get(TOTP_ACTIVATE_URL)
    if response.status_code == 302 and response["Location"].startswith("/accounts/reauthenticate/"):
        reauthenticate(client)
        response = client.get(TOTP_ACTIVATE_URL)
    assert response.status_code == 200, response.get("Location")
    match = re.search(r'<input[^>]*id="authenticator_secret"[^>]*>', response.content.decode())
    assert match, "the activation page shows the secret to type into an authenticator app"
    secret = re.search(r'value="([A-Z2-7=]+)"', match.group(0)).group(1)  # type: ignore[union-attr]

    response = client.post(TOTP_ACTIVATE_URL, {"code": totp_code(secret)})
    assert response.status_code == 302 and response["Location"] == RECOVERY_CODES_URL

    page = client.get(RECOVERY_CODES_URL).content.decode()
    textarea = re.search(r'<textarea[^>]*id="recovery_codes"[^>]*>(.*?)</textarea>', page, re.S)
    assert textarea, "the recovery codes are shown right after activation"
    codes = html.unescape(textarea.group(1)).split()
    assert len(codes) == 10 and all(re.fullmatch(r"[0-9a-f]{8}", c) for c in codes), codes
    return secret, codes


def reset_link_path() -> str:
    """The path of the link in the last password-reset e-mail sent."""
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+/)", mail.outbox[-1].body)
    assert link, mail.outbox[-1].body
    return link.group(1)


def page_text(response: HttpResponse) -> str:
    """The page as a person reads it (entities decoded), to look for form errors and messages."""
    return html.unescape(response.content.decode())


# --- Password sign-in ----------------------------------------------------------------------------------


def test_anonymous_admin_visit_is_sent_to_the_allauth_login(ada):
    response = Client().get("/admin/", follow=True)

    assert response.redirect_chain[-1] == ("/accounts/login/?next=%2Fadmin%2F", 302)
    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_correct_password_signs_in_and_opens_the_admin(ada):
    client = Client()

    response = sign_in(client, "ada", PASSWORD)

    assert response.status_code == 302 and response["Location"] == "/admin/"
    admin = client.get("/admin/")
    assert admin.status_code == 200
    assert b"Social CRM" in admin.content


def test_staff_can_sign_in_with_their_email_address(ada):
    client = Client()

    sign_in(client, "ada@example.com", PASSWORD)

    assert is_signed_in(client)


def test_wrong_password_is_refused_with_a_form_error(ada):
    client = Client()

    response = sign_in(client, "ada", "not-the-password")

    assert response.status_code == 200
    assert "The username and/or password you specified are not correct." in page_text(response)
    assert not is_signed_in(client)


def test_the_admin_login_url_itself_goes_through_allauth(ada):
    # The admin's own login form would skip rate limits and two-factor: it only forwards to allauth.
    response = Client().get("/admin/login/?next=/admin/crm/contact/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2Fcrm%2Fcontact%2F"


# --- Password reset ------------------------------------------------------------------------------------


def test_password_reset_by_email_lets_staff_sign_in_with_the_new_password(maria):
    client = Client()

    response = client.post("/accounts/password/reset/", {"email": "maria@example.com"})

    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["maria@example.com"]

    # The key in the link is moved into the session and the browser is sent on to a key-less URL.
    response = client.get(reset_link_path())
    assert response.status_code == 302
    form_url = response["Location"]
    assert client.get(form_url).status_code == 200
    new_password = "a-brand-new-passphrase-42"
    response = client.post(form_url, {"password1": new_password, "password2": new_password})
    assert response.status_code == 302, page_text(response)[-2000:]

    old_password = Client()
    assert "are not correct" in page_text(sign_in(old_password, "maria", PASSWORD))
    assert not is_signed_in(old_password)
    fresh = Client()
    assert sign_in(fresh, "maria", new_password).status_code == 302
    assert is_signed_in(fresh)


def test_a_reset_link_works_only_once(maria):
    client = Client()
    client.post("/accounts/password/reset/", {"email": "maria@example.com"})
    path = reset_link_path()
    form_url = client.get(path)["Location"]
    client.post(form_url, {"password1": "first-new-passphrase-1", "password2": "first-new-passphrase-1"})

    attacker = Client()
    form_url = attacker.get(path).get("Location", path)
    response = attacker.post(form_url, {"password1": "stolen-passphrase-99", "password2": "stolen-passphrase-99"})

    assert "The password reset link was invalid" in page_text(response)
    assert "are not correct" in page_text(sign_in(Client(), "maria", "stolen-passphrase-99"))
    assert sign_in(Client(), "maria", "first-new-passphrase-1").status_code == 302


# --- TOTP two-factor and recovery codes ----------------------------------------------------------------


@pytest.fixture
def ada_with_totp(ada) -> tuple[User, str, list[str]]:
    client = Client()
    assert sign_in(client, "ada", PASSWORD).status_code == 302
    secret, codes = activate_totp(client)
    assert Authenticator.objects.filter(user=ada, type=Authenticator.Type.TOTP).exists()
    return ada, secret, codes


def test_with_totp_the_password_alone_does_not_sign_in(ada_with_totp):
    client = Client()

    response = sign_in(client, "ada", PASSWORD)

    assert response.status_code == 302 and response["Location"] == MFA_AUTHENTICATE_URL
    assert not is_signed_in(client)
    assert client.get(MFA_AUTHENTICATE_URL).status_code == 200


def test_a_valid_totp_code_completes_the_sign_in(ada_with_totp):
    _, secret, _ = ada_with_totp
    client = Client()
    sign_in(client, "ada", PASSWORD)

    response = client.post(MFA_AUTHENTICATE_URL, {"code": totp_code(secret)})

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert is_signed_in(client)


def test_a_wrong_totp_code_is_refused(ada_with_totp):
    _, secret, _ = ada_with_totp
    client = Client()
    sign_in(client, "ada", PASSWORD)
    right = totp_code(secret)
    wrong = f"{(int(right) + 1) % 10**6:06d}"

    response = client.post(MFA_AUTHENTICATE_URL, {"code": wrong})

    assert response.status_code == 200
    assert "Incorrect code." in page_text(response)
    assert not is_signed_in(client)


def test_a_totp_code_cannot_be_replayed(ada_with_totp):
    _, secret, _ = ada_with_totp
    code = totp_code(secret, valid_for_at_least=10)
    first = Client()
    sign_in(first, "ada", PASSWORD)
    assert first.post(MFA_AUTHENTICATE_URL, {"code": code}).status_code == 302

    eavesdropper = Client()
    sign_in(eavesdropper, "ada", PASSWORD)
    assert totp_code(secret, valid_for_at_least=0) == code  # still the current code: refused as used, not as old
    response = eavesdropper.post(MFA_AUTHENTICATE_URL, {"code": code})

    assert "Incorrect code." in page_text(response)
    assert not is_signed_in(eavesdropper)


def test_a_recovery_code_completes_the_sign_in_once(ada_with_totp):
    _, _, codes = ada_with_totp
    client = Client()
    sign_in(client, "ada", PASSWORD)

    response = client.post(MFA_AUTHENTICATE_URL, {"code": codes[3]})

    assert response.status_code == 302
    assert is_signed_in(client)

    again = Client()
    sign_in(again, "ada", PASSWORD)
    response = again.post(MFA_AUTHENTICATE_URL, {"code": codes[3]})
    assert "Incorrect code." in page_text(response)
    assert not is_signed_in(again)
    # The other codes still work.
    assert again.post(MFA_AUTHENTICATE_URL, {"code": codes[4]}).status_code == 302
    assert is_signed_in(again)


# --- Mandatory two-factor for staff --------------------------------------------------------------------


def test_required_2fa_sends_staff_without_totp_to_the_activation_page(sam, settings):
    settings.STAFF_REQUIRE_2FA = True
    client = Client()
    sign_in(client, "sam", PASSWORD)

    for path in ("/admin/", "/admin/crm/contact/", "/admin/crm/contact/add/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == TOTP_ACTIVATE_URL, path

    activate_totp(client)

    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/crm/contact/").status_code == 200


def test_required_2fa_cannot_be_escaped_by_removing_totp(sam, settings):
    settings.STAFF_REQUIRE_2FA = True
    client = Client()
    sign_in(client, "sam", PASSWORD)
    activate_totp(client)
    assert client.get("/admin/").status_code == 200

    reauthenticate(client)
    response = client.post("/accounts/2fa/totp/deactivate/")
    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=sam, type=Authenticator.Type.TOTP).exists()

    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"] == TOTP_ACTIVATE_URL


def test_without_the_setting_staff_use_the_admin_without_totp(sam, settings):
    settings.STAFF_REQUIRE_2FA = False
    client = Client()
    sign_in(client, "sam", PASSWORD)

    assert client.get("/admin/").status_code == 200
    assert not Authenticator.objects.filter(user=sam).exists()


def test_required_2fa_leaves_the_account_pages_reachable(sam, settings):
    settings.STAFF_REQUIRE_2FA = True
    client = Client()
    sign_in(client, "sam", PASSWORD)

    assert client.get("/accounts/2fa/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/admin/").status_code == 302  # signed out: to the login, not to TOTP set-up
    assert client.get("/admin/")["Location"].startswith("/admin/login/")


# --- Rate limits ---------------------------------------------------------------------------------------


def test_after_five_wrong_passwords_even_the_right_one_is_refused(ada):
    for _ in range(5):
        response = sign_in(Client(), "ada", "guess-guess-guess")
        assert "are not correct" in page_text(response)

    client = Client()
    response = sign_in(client, "ada", PASSWORD)

    assert response.status_code in {200, 429}
    assert "Too many failed login attempts. Try again later." in page_text(response)
    assert not is_signed_in(client)


def test_failed_attempts_on_one_account_do_not_lock_out_another(ada, maria):
    for _ in range(5):
        sign_in(Client(), "ada", "guess-guess-guess")

    client = Client()
    sign_in(client, "maria", PASSWORD)

    assert is_signed_in(client)


def test_the_lockout_covers_the_account_whichever_identifier_is_typed(ada):
    # Five guesses by username, then more by e-mail address: still the same account, still locked.
    for _ in range(5):
        sign_in(Client(), "ada", "guess-guess-guess")

    client = Client()
    response = sign_in(client, "ADA@example.com", PASSWORD)

    assert "Too many failed login attempts. Try again later." in page_text(response)
    assert not is_signed_in(client)


def test_a_password_reset_unlocks_a_locked_account(maria):
    for _ in range(5):
        sign_in(Client(), "maria", "guess-guess-guess")
    client = Client()
    client.post("/accounts/password/reset/", {"email": "maria@example.com"})
    path = reset_link_path()
    form_url = client.get(path)["Location"]
    client.post(form_url, {"password1": "a-brand-new-passphrase-42", "password2": "a-brand-new-passphrase-42"})

    response = sign_in(client, "maria", "a-brand-new-passphrase-42")

    assert response.status_code == 302, page_text(response)[-1500:]
    assert is_signed_in(client)


def test_one_address_is_limited_across_accounts(ada, maria, sam):
    # 10 failures a minute from one IP address, whichever accounts they aim at.
    for i in range(10):
        sign_in(Client(), ["ada", "maria", "sam"][i % 3], "guess-guess-guess")

    client = Client()
    response = sign_in(client, "rita-does-not-matter", "guess")

    assert "Too many failed login attempts. Try again later." in page_text(response)


# --- No self sign-up -----------------------------------------------------------------------------------


def test_nobody_can_sign_up(db):
    client = Client()

    page = client.get("/accounts/signup/")
    response = client.post(
        "/accounts/signup/",
        {
            "email": "mallory@example.com",
            "username": "mallory",
            "password1": "mallory-wants-in-42",
            "password2": "mallory-wants-in-42",
        },
    )

    assert "Sign Up Closed" in page.content.decode()
    assert "Sign Up Closed" in response.content.decode()
    assert not User.objects.filter(username="mallory").exists()
    assert User.objects.count() == 0
