"""The bulk endpoint's validation fast path (crm.api.bulk_validation) accepts exactly what the contact serializer
accepts, with the same validated data, and leaves every other record to the serializer (whose errors the partner
then gets, as tests/api/test_bulk_upsert_set.py checks through the API). Random records, good and bad, are run
through both; derandomized so that a failure reproduces."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from crm.api.bulk_validation import record_validator
from crm.api.contacts import ContactSerializer
from crm.models import Company

WORDS = [
    "", " ", "  Anna  ", "Anna", "a" * 64, "a" * 65, "b" * 101, "c" * 256, "lead", "customer", "LEAD", "de", "en",
    "xx", "anna@example.com", " Anna@Example.com ", "not-an-address", "+49 30 21234567", "(415) 555-0123", "12",
    "2026-01-31T12:00:00Z", "2026-01-31", "yesterday", "email", "sms", "opted_in", "web_form", "api", "true", "1",
    "null", "tier", "\x00", "Ann\x00a", "\ud800", "Zoë", "acme-1",
]  # fmt: skip
SCALARS = st.one_of(
    st.sampled_from(WORDS), st.text(max_size=6), st.none(), st.booleans(), st.integers(-3, 70000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)  # fmt: skip
CHILD_KEYS = ["email", "number", "label", "is_primary", "channel", "status", "recorded_at", "method", "note", "bogus"]
ITEMS = st.lists(st.one_of(st.dictionaries(st.sampled_from(CHILD_KEYS), SCALARS, max_size=5), SCALARS), max_size=3)
FIELDS: dict[str, Any] = {
    "external_id": SCALARS, "first_name": SCALARS, "last_name": SCALARS, "job_title": SCALARS, "stage": SCALARS,
    "source": SCALARS, "preferred_language": SCALARS, "company": st.one_of(st.none(), st.integers(-1, 3)),
    "company_external_id": st.sampled_from([None, "", "acme-1", "nobody"]), "owner": st.one_of(st.none(), SCALARS),
    "tags": st.one_of(SCALARS, st.lists(SCALARS, max_size=3)),
    "attributes": st.one_of(SCALARS, st.dictionaries(st.sampled_from(["tier", "x"]), SCALARS, max_size=2)),
    "emails": st.one_of(SCALARS, ITEMS), "phones": st.one_of(SCALARS, ITEMS), "consents": st.one_of(SCALARS, ITEMS),
    "id": SCALARS, "created_at": SCALARS, "nickname": SCALARS,  # read-only ones are ignored, unknown refused
}  # fmt: skip
TEXT = st.sampled_from(["Anna", " Anna ", "", "Zoë", "b" * 100])
EMAIL = st.fixed_dictionaries(
    {"email": st.sampled_from(["anna@example.com", " Anna@Example.com ", "a@b.example"])},
    optional={"label": TEXT, "is_primary": st.booleans()},
)
PHONE = st.fixed_dictionaries(
    {"number": st.sampled_from(["+49 30 21234567", "(415) 555-0123", " 12 "])},
    optional={"label": TEXT, "is_primary": st.booleans()},
)
CONSENT = st.fixed_dictionaries(
    {"channel": st.sampled_from(["email", "sms"]), "status": st.sampled_from(["opted_in", "opted_out"]),
     "method": st.sampled_from(["web_form", "api"]), "recorded_at": st.sampled_from(["2026-01-31T12:00:00Z"])},
    optional={"note": TEXT},
)  # fmt: skip
GOOD: dict[str, Any] = {
    "external_id": st.sampled_from(["a-1", " a-2 ", "x" * 255, None, ""]), "first_name": TEXT, "last_name": TEXT,
    "job_title": TEXT, "source": TEXT, "stage": st.sampled_from(["lead", "customer", "churned"]),
    "preferred_language": st.sampled_from(["de", "en", ""]), "company": st.none(), "owner": st.none(),
    "company_external_id": st.sampled_from([None, "", "acme-1"]),
    "tags": st.lists(st.sampled_from(["VIP", " spaced ", "a" * 64]), max_size=2),
    "attributes": st.sampled_from([{}, {"tier": "gold"}, {"tier": None}]),
    "emails": st.lists(EMAIL, max_size=2), "phones": st.lists(PHONE, max_size=2),
    "consents": st.lists(CONSENT, max_size=2), "id": st.just(7),
}  # fmt: skip
GOOD_RECORDS = st.fixed_dictionaries({}, optional=GOOD)
ONE_BAD_FIELD = st.sampled_from(sorted(FIELDS)).flatmap(
    lambda name: st.tuples(GOOD_RECORDS, FIELDS[name]).map(lambda drawn: {**drawn[0], name: drawn[1]})
)
RECORDS = st.one_of(GOOD_RECORDS, ONE_BAD_FIELD, st.fixed_dictionaries({}, optional=FIELDS))


def serializer_answer(serializer: ContactSerializer, record: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return serializer.run_validation(record)  # type: ignore[no-any-return]
    except ValidationError:
        return None


@settings(
    max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(record=RECORDS)
def test_the_fast_path_agrees_with_the_serializer(db: None, record: dict[str, Any]) -> None:
    Company.objects.get_or_create(external_id="acme-1", defaults={"name": "Acme"})
    serializer = ContactSerializer()
    expected = serializer_answer(serializer, record)
    fast = record_validator(serializer)(record)
    assert fast is None or fast == expected, (record, fast, expected)


def test_plain_records_take_the_fast_path(db: None) -> None:
    acme = Company.objects.create(name="Acme", external_id="acme-1")
    records: list[dict[str, Any]] = [
        {"external_id": "a-1", "first_name": " Anna ", "last_name": "Schmidt", "stage": "lead", "tags": ["VIP"],
         "emails": [{"email": "Anna@Example.com", "label": "work"}], "phones": [{"number": "+49 30 21234567"}],
         "attributes": {}},
        {"external_id": "a-2", "first_name": "Ben", "preferred_language": "de", "company": acme.pk, "owner": None,
         "consents": [{"channel": "email", "status": "opted_in", "method": "web_form",
                       "recorded_at": "2026-01-31T12:00:00Z", "note": ""}],
         "emails": [], "phones": [{"number": "+49 30 29990001", "label": "mobile", "is_primary": True}]},
        {"external_id": "a-3", "last_name": "Cole", "company_external_id": "acme-1", "job_title": "", "id": 7},
    ]  # fmt: skip
    serializer = ContactSerializer()
    fast = record_validator(serializer)
    for record in records:
        validated = fast(record)
        assert validated is not None, record
        assert validated == serializer.run_validation(record)
    assert fast(records[2])["company"] == acme  # type: ignore[index] # validate() ran: the external id resolved
    assert fast({**records[0], "nickname": "x"}) is None  # unknown field: the serializer answers
    assert fast({**records[0], "emails": [{"email": "no"}]}) is None  # refused: the serializer answers
