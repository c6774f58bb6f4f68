"""Import contacts from a table (CSV or XLSX, see ``readers``): every row checked first, then all written at once.

Columns (any order; unknown ones are ignored and reported as a warning):
  external_id, first_name, last_name, email, email_2, phone, phone_2, company, company_external_id, job_title,
  stage, tags, source, preferred_language, owner, attr:<key> (one per custom attribute definition).
Required columns: ``first_name`` or ``last_name``, and ``email`` or ``external_id``.

Rules (the contract staff rely on; README repeats them):
- Matching: a row updates the contact with its ``external_id`` (deleted ones included: such a row is an error,
  restore the contact first), else the alive contact that has the row's e-mail address (``email``, else
  ``email_2``; case-insensitive); otherwise it creates a contact. An e-mail address shared by several contacts,
  or belonging to a contact with another external id, is an error: the row cannot say which one it means.
- Every row needs an ``external_id`` or an e-mail address; a row that creates a contact needs a first or last name.
- An empty cell leaves the stored value as it is (an import adds and corrects, it never blanks fields).
  E-mail addresses, phones and tags are added to the contact's, never removed; a contact's first address or
  phone becomes its primary one.
- ``company_external_id`` must name an existing company; ``company`` (a name, case-insensitive) picks the one
  company of that name, creates it when there is none, and is an error when several share it.
- ``owner`` is a staff member's username or e-mail address. ``stage`` and ``preferred_language`` accept the
  value or its label (``customer``/``Customer``, ``de``/``German``). ``tags`` are comma-separated; new tags are
  created. ``attr:<key>`` values are checked like the admin form checks them; yes/no attributes accept
  true/false, yes/no, 1/0.
- Inside one file, two rows may not share an external id, update the same contact, or create two contacts with
  the same e-mail address.
- All or nothing: any error in any row and nothing is written; otherwise everything is written in one
  transaction with bulk statements (a few queries per thousand rows, whatever the file's size).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError

from crm.attributes import validate_attributes
from crm.importing.common import (
    INFO_COLUMNS,
    Errors,
    check_header,
    clean_choice,
    clean_text,
)
from crm.importing.contacts_match import ContactReferences, ContactRow
from crm.importing.contacts_write import ContactPlan, write_contacts
from crm.importing.readers import ATTR_PREFIX, Table
from crm.importing.report import (
    SAMPLE_ROWS,
    ImportReport,
    ProgressBar,
    ProgressFactory,
    RowError,
    RowPlan,
    progress_bar,
)
from crm.models import AttributeDefinition, Company, Contact, User
from crm.phones import normalize_phone
from crm.services.tags import parse_tag_names

CONTACT_COLUMNS = (
    "external_id", "first_name", "last_name", "email", "email_2", "phone", "phone_2", "company",
    "company_external_id", "job_title", "stage", "tags", "source", "preferred_language", "owner",
)  # fmt: skip
REQUIRED = (("first_name", "last_name"), ("email", "external_id"))
TEXT_FIELDS = ("external_id", "first_name", "last_name", "job_title", "source")
TRUE_WORDS, FALSE_WORDS = {"true", "yes", "y", "1", "on"}, {"false", "no", "n", "0", "off"}


def contacts_import(
    *, table: Table, actor: User | None = None, dry_run: bool = False, progress: ProgressFactory | None = None
) -> ImportReport:
    """Check every row of ``table``, then (unless ``dry_run`` or an error) write them all; return the report.

    1. Header: required columns present, ``attr:`` columns defined (otherwise stop: every row would fail).
    2. Each row on its own: lengths, e-mail syntax, phones to E.164, choices, attribute values.
    3. References in bulk: contacts by external id and by e-mail, companies, owners, tags.
    4. Plan each row (create, update with its changed fields, unchanged) and check rows against each other.
    5. With no error and not a dry run: write everything in one transaction (``contacts_write``).
    """
    report = ImportReport(kind="contacts", source=table.name, dry_run=dry_run, total_rows=len(table.rows))
    errors = Errors()
    ignored = check_header(
        table, known={*CONTACT_COLUMNS, *INFO_COLUMNS}, needs=REQUIRED, errors=errors, allow_attributes=True
    )
    definitions = {d.key: d for d in AttributeDefinition.objects.all()}
    for column in table.columns:
        if column.startswith(ATTR_PREFIX) and column[len(ATTR_PREFIX) :] not in definitions:
            errors.add(1, column, "no custom attribute has this key (define it under Attribute definitions first)")
    if errors:
        report.errors = errors.sorted()
        return report
    if ignored:
        report.warnings.append(f"Ignored column(s): {', '.join(ignored)}.")
    for number, column, message in table.row_errors:
        errors.add(number, column, message)

    bar = progress_bar(progress, "Checking rows", len(table.rows))
    rows = []
    for number, cells in table.rows:
        rows.append(_clean_row(number, cells, definitions, errors))
        bar.update(1)
    bar.close()

    bar = progress_bar(progress, "Matching", len(rows))
    plans = _plan(rows, definitions, errors, report, bar)
    bar.close()
    for plan in plans[:SAMPLE_ROWS]:
        report.samples.append(RowPlan(plan.row, plan.action, plan.label, tuple(plan.change_names())))
    report.created = sum(p.action == "create" for p in plans)
    report.updated = sum(p.action == "update" for p in plans)
    report.unchanged = sum(p.action == "unchanged" for p in plans)
    if errors:
        report.errors = errors.sorted()
        return report
    if dry_run:
        return report
    try:
        write_contacts(plans, report=report, actor=actor, progress=progress)
    except IntegrityError as exc:
        # Another change landed between the checks and the write (e.g. the same external id saved in the
        # admin); the transaction was rolled back, so nothing of the file was written.
        report.errors = [RowError(None, "", f"The database refused the import ({exc}); nothing was imported.")]
        report.applied = False
    return report


def _clean_row(
    number: int, cells: dict[str, str], definitions: dict[str, AttributeDefinition], errors: Errors
) -> ContactRow:
    row = ContactRow(number)
    for name in TEXT_FIELDS:
        value = cells.get(name, "")
        if value:
            row.values[name] = clean_text(Contact, name, value, number, errors)
    if stage := cells.get("stage", ""):
        row.values["stage"] = clean_choice(stage, Contact.Stage.choices, number, "stage", errors)
    if language := cells.get("preferred_language", ""):
        choices = Contact._meta.get_field("preferred_language").choices or []
        row.values["preferred_language"] = clean_choice(language, choices, number, "preferred_language", errors)  # type: ignore[arg-type]
    for column in ("email", "email_2"):
        value = cells.get(column, "").lower()
        if not value:
            continue
        try:
            validate_email(value)
        except ValidationError:
            errors.add(number, column, f"“{value}” is not a valid e-mail address")
            continue
        if not row.emails:
            row.email_column = column
        if value not in row.emails:
            row.emails.append(value)
    for column in ("phone", "phone_2"):
        value = cells.get(column, "")
        if not value:
            continue
        try:
            number_e164 = normalize_phone(value)
        except ValidationError as exc:
            errors.add(number, column, exc.messages[0])
            continue
        if number_e164 not in row.phones:
            row.phones.append(number_e164)
    row.company_name = clean_text(Company, "name", cells.get("company", ""), number, errors, column="company")
    row.company_external_id = cells.get("company_external_id", "")
    row.owner = cells.get("owner", "").lower()
    if tags := cells.get("tags", ""):
        row.tags = parse_tag_names(tags)
    for column, value in cells.items():
        if value and column.startswith(ATTR_PREFIX):
            key = column[len(ATTR_PREFIX) :]
            row.attributes[key] = _attribute_input(definitions[key], value)
    if not (cells.get("external_id") or cells.get("email") or cells.get("email_2")):
        errors.add(number, "email", "each row needs an email or an external_id to match contacts on")
    return row


def _attribute_input(definition: AttributeDefinition, text: str) -> Any:
    """Cell text in the form ``validate_attributes`` takes (it checks; this only translates spreadsheet words)."""
    kind = AttributeDefinition.Type
    if definition.type == kind.BOOLEAN:
        word = text.lower()
        return True if word in TRUE_WORDS else False if word in FALSE_WORDS else text
    if definition.type == kind.CHOICE:
        return next((c for c in definition.choices if c.casefold() == text.casefold()), text)
    return text


def _check_attributes(
    row: ContactRow, definitions: dict[str, AttributeDefinition], existing: dict[str, Any] | None, errors: Errors
) -> dict[str, Any] | None:
    """The contact's attributes after the row (``None`` on error). New contacts must have the required ones;
    updates are checked on the keys the row gives (the stored values were checked when they were saved)."""
    given = row.attributes
    if existing is not None and not given:
        return existing
    subset = list(definitions.values()) if existing is None else [definitions[k] for k in given]
    try:
        cleaned = validate_attributes(given, subset)
    except ValidationError as exc:
        for message in exc.message_dict.get("attributes", []):
            key, _, text = message.partition(": ")
            errors.add(row.number, ATTR_PREFIX + key, text or message)
        return None
    return cleaned if existing is None else {**existing, **cleaned}


def _plan(
    rows: list[ContactRow],
    definitions: dict[str, AttributeDefinition],
    errors: Errors,
    report: ImportReport,
    bar: ProgressBar,
) -> list[ContactPlan]:
    refs = ContactReferences.load(rows)
    report.tags_created = refs.new_tag_names()
    seen_external: dict[str, int] = {}
    seen_target: dict[int, int] = {}
    seen_new_email: dict[str, int] = {}
    plans: list[ContactPlan] = []
    for row in rows:
        bar.update(1)
        external_id = row.values.get("external_id")
        if external_id:
            if external_id in seen_external:
                errors.add(row.number, "external_id", f"the same external id as row {seen_external[external_id]}")
                continue
            seen_external[external_id] = row.number
        contact = refs.match(row, errors)
        if row.number in errors.rows:
            continue
        if contact is not None:
            first = seen_target.setdefault(contact.pk, row.number)
            if first != row.number:
                column = "external_id" if external_id and contact.external_id == external_id else "email"
                errors.add(row.number, column, f"matches the same contact as row {first}")
                continue
        elif row.emails:
            first = seen_new_email.setdefault(row.emails[0], row.number)
            if first != row.number:
                errors.add(row.number, "email", f"row {first} creates a contact with the same e-mail address")
                continue
        plan = _plan_row(row, contact, refs, definitions, errors)
        if plan is not None:
            plans.append(plan)
    report.companies_created = list(refs.new_companies.values())
    return plans


def _plan_row(
    row: ContactRow,
    contact: Contact | None,
    refs: ContactReferences,
    definitions: dict[str, AttributeDefinition],
    errors: Errors,
) -> ContactPlan | None:
    created = contact is None
    if contact is None:
        if not (row.values.get("first_name") or row.values.get("last_name")):
            errors.add(row.number, "first_name", "a new contact needs a first_name or last_name")
        contact = Contact()  # the row's other references are still checked, so every problem is reported
    attributes = _check_attributes(row, definitions, None if created else dict(contact.attributes or {}), errors)
    company_id, company_key = refs.company_for(row, errors)
    owner_id = refs.owner_for(row, errors)
    if attributes is None or row.number in errors.rows:
        return None
    plan = ContactPlan(row=row.number, contact=contact, created=created)
    values: dict[str, Any] = dict(row.values)
    if attributes != (contact.attributes or {}):
        values["attributes"] = attributes
    if company_id is not None:
        values["company_id"] = company_id
    if owner_id is not None:
        values["owner_id"] = owner_id
    for name, value in values.items():
        old = getattr(contact, name)
        if created or old != value:
            plan.changed[name] = (old if not created else None, value)
            setattr(contact, name, value)
    if company_key:  # a company the import creates: its id is set when it is written
        plan.company_key, plan.company_name = company_key, refs.new_companies[company_key]
        plan.changed["company_id"] = (None if created else contact.company_id, None)
    existing = refs.emails.get(contact.pk, set()) if not created else set()
    plan.new_emails = [e for e in row.emails if e not in existing]
    plan.primary_email = created or not existing
    phones = refs.phones.get(contact.pk, set()) if not created else set()
    plan.new_phones = [p for p in row.phones if p not in phones]
    plan.primary_phone = created or not phones
    tags = refs.contact_tags.get(contact.pk, set()) if not created else set()
    plan.new_tags = [t for t in row.tags if t.lower() not in refs.tag_ids or refs.tag_ids[t.lower()] not in tags]
    plan.label = contact.full_name or (row.emails[0] if row.emails else row.values.get("external_id", ""))
    return plan
