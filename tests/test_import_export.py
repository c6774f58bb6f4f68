"""Import of contacts and companies (admin upload → preview → confirm, and the commands) and export of any
selection to CSV and XLSX: all rows or none, every problem named by row and column, and a round trip that
changes nothing."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.utils import timezone
from openpyxl import Workbook, load_workbook

from crm.models import AttributeDefinition, Company, Contact, ContactEmail, ContactPhone, Interaction, Segment, Tag
from crm.services.purchases import LineInput, order_create
from crm.services.segments import segment_definition_validate, segment_freeze

CONTACTS = "/admin/crm/contact/"
COMPANIES = "/admin/crm/company/"
IMPORT = f"{CONTACTS}import/"
CONFIRM = f"{CONTACTS}import/confirm/"
pytestmark = pytest.mark.django_db
HEADER = ["external_id", "first_name", "last_name", "email", "phone", "company", "tags", "stage"]


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings: Any, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path / "var"
    settings.PHONE_DEFAULT_REGION = "US"


def csv_bytes(rows: list[list[Any]], *, encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def run(path: Path, *args: str, command: str = "import_contacts") -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(command, str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(path: Path, *args: str, command: str = "import_contacts") -> str:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command(command, str(path), *args, stdout=out, stderr=err)
    assert failure.value.returncode == 1
    return err.getvalue() + str(failure.value)


def counts() -> tuple[int, int, int, int, int]:
    return (
        Contact.all_objects.count(),
        ContactEmail.objects.count(),
        ContactPhone.objects.count(),
        Company.all_objects.count(),
        Tag.objects.count(),
    )


def upload(client: Any, name: str, data: bytes, url: str = IMPORT, **extra: str) -> Any:
    return client.post(url, {"file": SimpleUploadedFile(name, data), "encoding": "utf-8", **extra})


def token_of(response: Any) -> str:
    token: str = response.context["token"]
    assert token
    return token


# --- The admin: upload, preview, confirm; who may ---------------------------------------------------------
def test_manager_imports_through_preview_and_confirm(maria, login, acme):
    client = login(maria)
    page = client.get(CONTACTS).content.decode()
    assert "Import contacts" in page and "Likely duplicates" in page  # the list's own buttons stay
    data = csv_bytes(
        [
            HEADER,
            ["P-1", "Anna", "Schmidt", "Anna@Example.com", "+4930901820", "Acme Outdoor", "vip, newsletter", "lead"],
            ["", "Ben", "Okafor", "ben@example.com", "", "Borealis GmbH", "vip", "customer"],
        ]
    )
    preview = upload(client, "people.csv", data)
    assert preview.status_code == 200
    page = preview.content.decode()
    assert "2 rows: 2 contacts would be created, 0 updated, 0 unchanged" in page
    assert "Anna Schmidt" in page and "Ben Okafor" in page and "Confirm import" in page
    assert "Borealis GmbH" in page  # the company the import would create
    assert Contact.objects.count() == 0  # a preview writes nothing

    response = client.post(CONFIRM, {"token": token_of(preview)})
    assert response.status_code == 302 and response["Location"] == CONTACTS
    anna = Contact.objects.get(external_id="P-1")
    assert anna.company == acme and anna.search_name == "anna schmidt"
    assert [e.email for e in anna.emails.all()] == ["anna@example.com"] and anna.emails.get().is_primary
    assert anna.phones.get().number == "+4930901820"
    assert sorted(t.name for t in anna.tags.all()) == ["newsletter", "vip"]
    ben = Contact.objects.get(last_name="Okafor")
    assert ben.company.name == "Borealis GmbH" and ben.stage == "customer"
    assert not list((Path(settings.VAR_DIR) / "imports").iterdir())  # the upload is gone once imported
    # The import is in each record's history, with who did it.
    entry = LogEntry.objects.get_for_object(anna).get()
    assert entry.actor == maria and entry.action == LogEntry.Action.CREATE
    assert entry.changes_dict["first_name"] == ["None", "Anna"] and entry.changes_dict["tags"]["objects"]
    history = client.get(f"{CONTACTS}{anna.pk}/history/").content.decode()
    assert "anna@example.com" in history and "maria" in history


def test_preview_lists_every_error_with_row_and_column_and_offers_no_confirm(maria, login):
    client = login(maria)
    data = csv_bytes(
        [
            HEADER,
            ["P-1", "Anna", "Schmidt", "anna@example.com", "+4930901820", "", "", ""],
            ["P-2", "Ben", "Okafor", "not-an-address", "12345", "", "", "boss"],
        ]
    )
    preview = upload(client, "people.csv", data)
    page = preview.content.decode()
    errors = {(e.row, e.field) for e in preview.context["report"].errors}
    assert errors == {(3, "email"), (3, "phone"), (3, "stage")}
    assert "not-an-address" in page and "12345" in page and "Confirm import" not in page
    assert "nothing was imported" in page
    download = client.get(preview.context["errors_url"])  # every error, for files with thousands
    lines = list(csv.reader(io.StringIO(download.content.decode().lstrip("\ufeff"))))
    assert lines[0] == ["row", "column", "problem"] and sorted(tuple(r[:2]) for r in lines[1:]) == [
        ("3", "email"),
        ("3", "phone"),
        ("3", "stage"),
    ]


def test_agent_and_read_only_get_403_and_no_button(sam, rita, login):
    for user in (sam, rita):
        client = login(user)
        assert "Import contacts" not in client.get(CONTACTS).content.decode()
        assert client.get(IMPORT).status_code == 403
        assert upload(client, "people.csv", csv_bytes([HEADER])).status_code == 403
        assert client.post(CONFIRM, {"token": "x" * 43}).status_code == 403
        assert client.get(f"{COMPANIES}import/").status_code == 403


def test_confirm_needs_the_uploaders_own_token(maria, ada, login):
    data = csv_bytes([HEADER, ["P-1", "Anna", "Schmidt", "anna@example.com", "", "", "", ""]])
    token = token_of(upload(login(maria), "people.csv", data))
    other = login(ada)
    for forged in (token, "../../db.sqlite3", "../" + token[3:]):
        response = other.post(CONFIRM, {"token": forged})
        assert response.status_code == 302 and response["Location"] == IMPORT
    assert Contact.objects.count() == 0


def test_administrator_imports_companies_in_the_admin(ada, login):
    client = login(ada)
    assert "Import companies" in client.get(COMPANIES).content.decode()
    data = csv_bytes(
        [
            ["external_id", "name", "domain", "size_band", "country", "phone", "tags"],
            ["C-1", "Acme Outdoor", "https://Acme.example/", "11-50", "de", "+4930901820", "retail"],
        ]
    )
    preview = upload(client, "companies.csv", data, url=f"{COMPANIES}import/")
    assert preview.context["report"].created == 1
    client.post(f"{COMPANIES}import/confirm/", {"token": token_of(preview)})
    company = Company.objects.get(external_id="C-1")
    assert (company.domain, company.country, company.size_band, company.search_name) == (
        "acme.example",
        "DE",
        "11-50",
        "acme outdoor",
    )
    assert [t.name for t in company.tags.all()] == ["retail"]


# --- Matching: external id first, then e-mail; companies; tags -------------------------------------------
def test_rows_update_by_external_id_then_by_email_and_create_the_rest(tmp_path, make_contact, maria):
    by_id = make_contact("Anna", "Old", email="anna@example.com", external_id="P-1")
    by_email = make_contact("Ben", "Okafor", email="ben@example.com", job_title="Buyer")
    untouched = make_contact("Cleo", "Same", email="cleo@example.com", external_id="P-3")
    data = csv_bytes(
        [
            ["external_id", "first_name", "last_name", "email", "job_title", "owner"],
            ["P-1", "Anna", "Schmidt", "anna.new@example.com", "", "maria"],  # found by id; address added
            ["P-2", "", "", "BEN@example.com", "Head of purchasing", ""],  # found by e-mail; gets the id
            ["P-3", "Cleo", "Same", "cleo@example.com", "", ""],  # nothing to change
            ["", "Dora", "New", "dora@example.com", "", "maria@example.com"],
        ]
    )
    out, _ = run(write(tmp_path, "people.csv", data))
    assert "1 contact was created, 2 updated, 1 unchanged" in out

    by_id.refresh_from_db()
    assert (by_id.last_name, by_id.search_name, by_id.owner) == ("Schmidt", "anna schmidt", maria)
    assert sorted(e.email for e in by_id.emails.all()) == ["anna.new@example.com", "anna@example.com"]
    assert by_id.emails.get(email="anna@example.com").is_primary  # the existing primary stays primary
    by_email.refresh_from_db()
    assert (by_email.external_id, by_email.first_name, by_email.job_title) == ("P-2", "Ben", "Head of purchasing")
    assert untouched.updated_at == Contact.objects.get(pk=untouched.pk).updated_at
    assert Contact.objects.get(first_name="Dora").owner == maria
    changes = LogEntry.objects.get_for_object(by_email).filter(action=LogEntry.Action.UPDATE).get().changes_dict
    assert changes["job_title"] == ["Buyer", "Head of purchasing"] and changes["external_id"] == ["None", "P-2"]


def test_companies_by_name_or_external_id_and_new_tags(tmp_path, acme):
    acme.external_id = "C-ACME"
    acme.save()
    Tag.objects.create(name="VIP")
    data = csv_bytes(
        [
            ["first_name", "email", "company", "company_external_id", "tags"],
            ["Anna", "anna@example.com", "ACME OUTDOOR", "", "vip, Newsletter"],
            ["Ben", "ben@example.com", "", "C-ACME", "newsletter"],
            ["Cleo", "cleo@example.com", "Borealis", "", ""],
            ["Dora", "dora@example.com", "borealis", "", ""],
        ]
    )
    out, _ = run(write(tmp_path, "people.csv", data))
    assert "New companies: Borealis" in out and "New tags: Newsletter" in out
    assert {c.first_name: c.company.name for c in Contact.objects.select_related("company")} == {
        "Anna": "Acme Outdoor",
        "Ben": "Acme Outdoor",
        "Cleo": "Borealis",
        "Dora": "Borealis",
    }
    assert Company.objects.filter(name__iexact="borealis").count() == 1
    assert sorted(Tag.objects.values_list("name", flat=True)) == ["Newsletter", "VIP"]
    assert sorted(t.name for t in Contact.objects.get(first_name="Anna").tags.all()) == ["Newsletter", "VIP"]


def test_custom_attribute_columns_are_checked_and_stored(tmp_path):
    AttributeDefinition.objects.create(key="loyalty_tier", label="Tier", type="choice", choices=["gold", "silver"])
    AttributeDefinition.objects.create(key="shoe_size", label="Shoe size", type="number")
    AttributeDefinition.objects.create(key="newsletter_ok", label="Newsletter", type="boolean")
    header = ["first_name", "email", "attr:loyalty_tier", "attr:shoe_size", "attr: Newsletter OK"]
    bad = csv_bytes([header, ["Anna", "anna@example.com", "bronze", "big", "maybe"]])
    error = run_failing(write(tmp_path, "bad.csv", bad))
    for column in ("attr:loyalty_tier", "attr:shoe_size", "attr:newsletter_ok"):
        assert f"Row 2, {column}:" in error
    good = csv_bytes([header, ["Anna", "anna@example.com", "Gold", "42", "yes"]])
    run(write(tmp_path, "good.csv", good))
    assert Contact.objects.get().attributes == {"loyalty_tier": "gold", "shoe_size": 42, "newsletter_ok": True}
    unknown = csv_bytes([["first_name", "email", "attr:nope"], ["Anna", "anna@example.com", "1"]])
    assert "Row 1, attr:nope: no custom attribute has this key" in run_failing(write(tmp_path, "u.csv", unknown))


# --- Bad input: named by row and column, and nothing imported ---------------------------------------------
def test_an_invalid_phone_fails_the_whole_file(tmp_path, make_contact):
    make_contact("Anna", "Schmidt", email="anna@example.com")
    before = counts()
    rows = [HEADER] + [
        [f"P-{i}", "Good", f"Row{i}", f"good{i}@example.com", "+4930901820", "Newco", "new", ""] for i in range(5)
    ]
    rows.insert(4, ["P-X", "Bad", "Phone", "bad@example.com", "12345", "", "", ""])
    error = run_failing(write(tmp_path, "people.csv", csv_bytes(rows)))
    assert "Row 5, phone: 12345 is not a phone number" in error or "Row 5, phone: 12345 is not a valid" in error
    assert "nothing was imported" in error
    assert counts() == before  # no contact, address, phone, company or tag from the good rows either


def test_missing_required_column_is_named(tmp_path):
    data = csv_bytes([["first_name", "last_name", "phone"], ["Anna", "Schmidt", "+4930901820"]])
    error = run_failing(write(tmp_path, "people.csv", data))
    assert "Row 1, email: the required column “email” or “external_id” is missing" in error
    data = csv_bytes([["email", "job_title"], ["anna@example.com", "Buyer"]])
    assert "“first_name” or “last_name” is missing" in run_failing(write(tmp_path, "people2.csv", data))
    assert Contact.objects.count() == 0


def test_row_level_rules(tmp_path, make_contact):
    make_contact("Twin", "One", email="twin@example.com")
    make_contact("Twin", "Two", email="twin@example.com")
    make_contact("Gone", "Away", email="gone@example.com", external_id="P-GONE", deleted_at=timezone.now())
    data = csv_bytes(
        [
            ["external_id", "first_name", "last_name", "email", "company_external_id", "owner"],
            ["P-1", "", "", "new@example.com", "", ""],  # row 2: creates without a name
            ["P-2", "A", "B", "twin@example.com", "", ""],  # row 3: two contacts have this address
            ["P-GONE", "C", "D", "", "", ""],  # row 4: deleted contact
            ["P-5", "E", "F", "e@example.com", "C-NOPE", "nobody"],  # row 5: unknown company and owner
            ["P-5", "G", "H", "g@example.com", "", ""],  # row 6: the same external id again
            ["", "I", "J", "", "", ""],  # row 7: nothing to match on
        ]
    )
    error = run_failing(write(tmp_path, "people.csv", data))
    for where in (
        "Row 2, first_name: a new contact needs",
        "Row 3, email: 2 contacts have this address",
        "Row 4, external_id: belongs to deleted contact",
        "Row 5, company_external_id: no company has external id “C-NOPE”",
        "Row 5, owner: no staff member",
        "Row 6, external_id: the same external id as row 5",
        "Row 7, email: each row needs an email or an external_id",
    ):
        assert where in error


def test_malformed_csv_and_xlsx_that_is_not_a_workbook(tmp_path):
    malformed = b'first_name,email\n"Anna,anna@example.com\nBen,"ben"@example.com\n'
    error = run_failing(write(tmp_path, "people.csv", malformed))
    assert "The CSV file is malformed at line" in error
    error = run_failing(write(tmp_path, "people.xlsx", b"first_name,email\nAnna,anna@example.com\n"))
    assert "not a valid XLSX workbook (it is not a zip archive)" in error
    assert "Old Excel .xls files are not supported" in run_failing(write(tmp_path, "old.xls", b"\xd0\xcf\x11\xe0"))
    assert "The file is empty" in run_failing(write(tmp_path, "empty.csv", b""))
    twice = b"email,first_name,Email\nanna@example.com,Anna,x\n"
    assert "Row 1, email: Column “email” appears twice (columns 1 and 3)" in run_failing(
        write(tmp_path, "t.csv", twice)
    )
    wide = b"email,first_name\nanna@example.com,Anna,surplus\n"
    assert "Row 2: the row has 3 cells but the header has 2 columns" in run_failing(write(tmp_path, "w.csv", wide))
    assert Contact.objects.count() == 0


def test_wrong_encoding_is_refused_with_the_line_unless_named(tmp_path):
    data = csv_bytes([["first_name", "last_name", "email"], ["Jürgen", "Müller", "jm@example.com"]], encoding="latin-1")
    path = write(tmp_path, "people.csv", data)
    error = run_failing(path)
    assert "The file is not valid utf-8: line 2, byte 2 (0xfc)" in error
    assert Contact.objects.count() == 0
    run(path, "--encoding", "latin-1")
    assert Contact.objects.get().full_name == "Jürgen Müller"


def test_utf8_with_bom_semicolons_and_friendly_headers(tmp_path):
    data = "\ufeffFirst name;Last Name;E-mail;Job title\nAnna;Schmidt;anna@example.com;Buyer\n".encode()
    run(write(tmp_path, "people.csv", data))
    assert Contact.objects.get().job_title == "Buyer"


def test_dry_run_reports_and_writes_nothing(tmp_path, make_contact):
    make_contact("Anna", "Old", email="anna@example.com", external_id="P-1")
    before = counts()
    data = csv_bytes(
        [
            HEADER,
            ["P-1", "Anna", "Schmidt", "", "", "", "", ""],
            ["P-2", "Ben", "B", "b@example.com", "", "Newco", "x", ""],
        ]
    )
    out, _ = run(write(tmp_path, "people.csv", data), "--dry-run")
    assert "Dry run: nothing was written." in out
    assert "row 2: update Anna Schmidt (last_name)" in out and "row 3: create Ben B" in out
    assert "1 contact would be created, 1 updated, 0 unchanged" in out
    assert counts() == before and Contact.objects.get(external_id="P-1").last_name == "Old"


def test_xlsx_import_with_numbers_and_dates(tmp_path):
    AttributeDefinition.objects.create(key="birthday", label="Birthday", type="date")
    import datetime as dt

    rows = [
        ["external_id", "first_name", "email", "phone", "attr:birthday"],
        [1001, "Anna", "anna@example.com", 4155550123, dt.datetime(1990, 5, 17)],  # a number: no "+"
        [],
        [1002, "Ben", "ben@example.com", "+4930901820", None],
    ]
    out, _ = run(write(tmp_path, "people.xlsx", xlsx_bytes(rows)))
    assert "2 contacts were created" in out
    anna = Contact.objects.get(external_id="1001")
    assert anna.attributes == {"birthday": "1990-05-17"} and anna.phones.get().number == "+14155550123"
    bad = [["first_name", "email", "phone"], ["Anna", "x@example.com", "call me"]]
    assert "Row 2, phone:" in run_failing(write(tmp_path, "bad.xlsx", xlsx_bytes(bad)))


def test_import_companies_command(tmp_path, acme):
    data = csv_bytes([["name", "industry", "country"], ["acme outdoor", "Retail", "DE"], ["Borealis", "", "Germany"]])
    error = run_failing(write(tmp_path, "c.csv", data), command="import_companies")
    assert "Row 3, country: “Germany” is not a two-letter country code" in error
    data = csv_bytes([["name", "industry", "country"], ["acme outdoor", "Retail", "DE"], ["Borealis", "", "SE"]])
    out, _ = run(write(tmp_path, "c.csv", data), command="import_companies")
    assert "1 company was created, 1 updated" in out
    acme.refresh_from_db()
    assert (acme.industry, acme.country, acme.name) == ("Retail", "DE", "Acme Outdoor")


# --- Export: any selection, both formats, and the round trip --------------------------------------------
@pytest.fixture
def people(make_contact, acme, maria) -> list[Contact]:
    acme.external_id = "C-ACME"
    acme.save()
    AttributeDefinition.objects.create(key="shoe_size", label="Shoe size", type="number")
    anna = make_contact("Anna", "Schmidt", email="anna@example.com", phone="+4930901820", company=acme, owner=maria)
    anna.tags.set([Tag.objects.create(name="vip"), Tag.objects.create(name="newsletter")])
    anna.attributes = {"shoe_size": 38}
    anna.save()
    ContactEmail.objects.create(contact=anna, email="anna.private@example.com")
    ben = make_contact("Ben", "=HYPERLINK(1)", email="ben@example.com", external_id="P-2", stage="customer")
    make_contact("Cleo", "Other", email="cleo@example.com")
    return [anna, ben]


def export(client: Any, fmt: str, pks: list[int], url: str = CONTACTS) -> Any:
    data = {"action": f"export_{fmt}", "_selected_action": [str(pk) for pk in pks], "index": 0}
    response = client.post(url, data)
    assert response.status_code == 200, response.content[:300]
    return response


def csv_rows(response: Any) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode()
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_export_selection_to_csv_and_xlsx(sam, login, people):
    client = login(sam)  # an agent may export what they may list
    anna, ben = people
    response = export(client, "csv", [anna.pk, ben.pk])
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'attachment; filename="contacts-' in response["Content-Disposition"]
    rows = {r["first_name"]: r for r in csv_rows(response)}
    assert set(rows) == {"Anna", "Ben"}
    assert rows["Anna"]["email"] == "anna@example.com" and rows["Anna"]["email_2"] == "anna.private@example.com"
    assert (rows["Anna"]["company"], rows["Anna"]["company_external_id"]) == ("Acme Outdoor", "C-ACME")
    assert (rows["Anna"]["tags"], rows["Anna"]["owner"], rows["Anna"]["attr:shoe_size"]) == (
        "newsletter, vip",
        "maria",
        "38",
    )
    assert rows["Ben"]["last_name"] == "'=HYPERLINK(1)"  # not a formula when opened in a spreadsheet

    response = export(client, "xlsx", [anna.pk, ben.pk])
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    header = values[0]
    assert header[:4] == ["id", "external_id", "first_name", "last_name"] and header[-1] == "attr:shoe_size"
    by_name = {r[2]: dict(zip(header, r, strict=True)) for r in values[1:]}
    assert by_name["Anna"]["phone"] == "+4930901820" and by_name["Ben"]["stage"] == "customer"
    ben_cell = next(row[3] for row in sheet.iter_rows(min_row=2) if row[2].value == "Ben")
    assert (ben_cell.value, ben_cell.data_type) == ("=HYPERLINK(1)", "s")  # text, not a formula


def test_export_makes_no_query_per_contact(sam, login, people, make_contact, django_assert_max_num_queries):
    pks = [c.pk for c in people] + [make_contact("X", f"Y{i}", phone="+4930901820").pk for i in range(30)]
    client = login(sam)
    with django_assert_max_num_queries(25):
        rows = csv_rows(export(client, "csv", pks))
    assert len(rows) == 32


def test_export_then_import_changes_nothing(maria, login, people, tmp_path):
    client = login(maria)
    pks = list(Contact.objects.values_list("pk", flat=True))
    entries = LogEntry.objects.count()
    for fmt in ("csv", "xlsx"):
        response = export(client, fmt, pks)
        data = b"".join(response.streaming_content) if fmt == "csv" else response.content
        preview = upload(client, f"export.{fmt}", data)
        report = preview.context["report"]
        assert report.errors == [] and (report.created, report.updated, report.unchanged) == (0, 0, 3)
        client.post(CONFIRM, {"token": token_of(preview)})
    assert LogEntry.objects.count() == entries  # nothing changed, nothing logged


def test_segment_members_export_from_the_contact_list(maria, login, people):
    anna, _ = people
    segment = Segment.objects.create(name="VIPs", definition=segment_definition_validate({"tags_any": ["vip"]}))
    client = login(maria)
    data = {"action": "export_csv", "select_across": "1", "index": 0, "_selected_action": [str(anna.pk)]}
    response = client.post(f"{CONTACTS}?segment={segment.pk}", data)
    assert [r["email"] for r in csv_rows(response)] == ["anna@example.com"]
    # The segment list exports the members of the selected segments (dynamic and frozen) the same way.
    frozen = segment_freeze(segment=Segment.objects.create(name="Customers", definition={"stages": ["customer"]}))
    response = client.post(
        "/admin/crm/segment/", {"action": "export_members_csv", "_selected_action": [segment.pk, frozen.pk]}
    )
    assert sorted(r["email"] for r in csv_rows(response)) == ["anna@example.com", "ben@example.com"]


def test_companies_interactions_and_orders_export(maria, login, people, acme, backpack):
    client = login(maria)
    anna, _ = people
    rows = csv_rows(export(client, "csv", [acme.pk], url=COMPANIES))
    assert rows[0]["name"] == "Acme Outdoor" and rows[0]["external_id"] == "C-ACME"
    call = Interaction.objects.create(
        kind="call", contact=anna, subject="Intro", occurred_at=timezone.now(), external_id="ERP-CALL-7"
    )
    rows = csv_rows(export(client, "csv", [call.pk], url="/admin/crm/interaction/"))
    assert (rows[0]["subject"], rows[0]["contact"], rows[0]["kind"]) == ("Intro", "Anna Schmidt", "call")
    assert rows[0]["external_id"] == "ERP-CALL-7"  # the partner's id, as pushed through the API
    order = order_create(number="H-1", contact=anna, ordered_at=timezone.now(), lines=[LineInput(backpack, 2)])
    response = export(client, "xlsx", [order.pk], url="/admin/crm/order/")
    sheet = load_workbook(io.BytesIO(response.content)).active
    header, first = ([c.value for c in row] for row in sheet.iter_rows(max_row=2))
    row = dict(zip(header, first, strict=True))
    assert (row["number"], row["total"], row["lines"]) == ("H-1", "178.00", "2 × BAG-030 @ 89.00")
