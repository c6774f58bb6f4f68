"""Customer analysis: purchase figures, last interaction, RFM scores and segments, and their use in lists."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from crm.models import Contact, ContactAnalysis, Interaction, Order, Product
from crm.services.analysis import analysis_recompute
from crm.services.purchases import LineInput, order_create
from tests.admin_forms import listed
from tests.conftest import days_ago


@pytest.fixture
def item(db: None) -> Product:
    return Product.objects.create(name="Unit", sku="UNIT", price=Decimal("1.00"))


_numbers = iter(range(1, 10**6))


def buy(contact: Contact, item: Product, *, days: int, amount: int, status: str = "completed") -> Order:
    number = f"T-{next(_numbers)}"
    return order_create(
        number=number, contact=contact, ordered_at=days_ago(days), lines=[LineInput(item, amount)], status=status
    )


def test_purchase_figures_count_only_real_purchases(make_contact, item):
    anna = make_contact("Anna")
    buy(anna, item, days=100, amount=30)
    buy(anna, item, days=10, amount=50)
    buy(anna, item, days=5, amount=999, status="cancelled")
    buy(anna, item, days=4, amount=999, status="refunded")
    buy(anna, item, days=3, amount=999, status="pending")
    Interaction.objects.create(kind="call", contact=anna, subject="hi", occurred_at=days_ago(2))
    ben = make_contact("Ben")

    result = analysis_recompute()

    assert (result.contacts, result.purchasers) == (2, 1)
    a = ContactAnalysis.objects.get(contact=anna)
    assert (a.order_count, a.total_spend, a.average_order_value) == (2, Decimal("80.00"), Decimal("40.00"))
    assert a.first_purchase_at.date() == days_ago(100).date() and a.last_purchase_at.date() == days_ago(10).date()
    assert a.last_interaction_at.date() == days_ago(2).date()
    b = ContactAnalysis.objects.get(contact=ben)
    assert (b.order_count, b.total_spend, b.average_order_value, b.segment, b.recency_score) == (0, 0, None, "", None)


def test_rfm_scores_are_quintiles_and_segments_follow_the_documented_grid(make_contact, item):
    # Ten purchasers: the i-th bought i times, i days... so recency, frequency and spend all rank together.
    contacts = []
    for i in range(1, 11):
        contact = make_contact(f"C{i}")
        for k in range(i):
            buy(contact, item, days=200 - 15 * i - k, amount=10 * i)
        contacts.append(contact)

    analysis_recompute()

    scores = {
        c.first_name: (a.recency_score, a.frequency_score, a.monetary_score, a.segment)
        for c in contacts
        for a in [ContactAnalysis.objects.get(contact=c)]
    }
    # Quintiles of 10: {1,2} -> 1, {3,4} -> 2, {5,6} -> 3, {7,8} -> 4, {9,10} -> 5.
    assert scores["C1"] == (1, 1, 1, "lost")
    assert scores["C2"] == (1, 1, 1, "lost")
    assert scores["C3"] == (2, 2, 2, "hibernating")
    assert scores["C5"] == (3, 3, 3, "potential_loyalists")
    assert scores["C7"] == (4, 4, 4, "champions")
    assert scores["C10"] == (5, 5, 5, "champions")


@pytest.mark.parametrize(
    ("recent", "frequent", "expected"),
    [
        (True, False, "new"),  # bought recently, once, little
        (False, True, "cant_lose"),  # big spender gone quiet
    ],
)
def test_grid_corners(make_contact, item, recent, frequent, expected):
    # Nine average customers spread the quintiles; the tenth is the case under test.
    for i in range(9):
        c = make_contact(f"Avg{i}")
        for k in range(3):
            buy(c, item, days=100 + i * 10 + k, amount=20)
    subject = make_contact("Subject")
    if recent:
        buy(subject, item, days=1, amount=1)
    if frequent:
        for k in range(10):
            buy(subject, item, days=900 + k, amount=100)
    analysis_recompute()
    assert ContactAnalysis.objects.get(contact=subject).segment == expected


def test_equal_values_get_equal_scores(make_contact, item):
    singles = [make_contact(f"S{i}") for i in range(7)]
    for c in singles:
        buy(c, item, days=50, amount=10)
    heavy = [make_contact(f"H{i}") for i in range(3)]
    for i, c in enumerate(heavy):
        for _ in range(2 + i):
            buy(c, item, days=50, amount=10)
    analysis_recompute()
    single_f = {ContactAnalysis.objects.get(contact=c).frequency_score for c in singles}
    assert single_f == {1}  # ties fall to the lower score
    assert ContactAnalysis.objects.get(contact=heavy[-1]).frequency_score == 5


def test_recompute_is_idempotent_and_drops_deleted_contacts(make_contact, item):
    anna, ben = make_contact("Anna"), make_contact("Ben")
    buy(anna, item, days=3, amount=5)
    analysis_recompute()
    first = list(ContactAnalysis.objects.order_by("pk").values_list("pk", "order_count", "segment"))
    analysis_recompute()
    assert list(ContactAnalysis.objects.order_by("pk").values_list("pk", "order_count", "segment")) == first
    Contact.objects.filter(pk=ben.pk).update(deleted_at=timezone.now())
    analysis_recompute()
    assert list(ContactAnalysis.objects.values_list("contact_id", flat=True)) == [anna.pk]


def test_command_reports_with_progress(make_contact, item):
    buy(make_contact("Anna"), item, days=3, amount=5)
    out, err = StringIO(), StringIO()
    call_command("recompute_analysis", stdout=out, stderr=err)
    assert "Analysed 1 contacts (1 with purchases)" in out.getvalue()
    assert "customer analysis" in err.getvalue()  # the tqdm bar


def test_nightly_schedule_exists(db):
    schedule = Schedule.objects.get(name="crm: nightly customer analysis")
    assert schedule.func == "crm.tasks.recompute_analysis" and schedule.schedule_type == Schedule.DAILY


def test_admin_action_enqueues_the_recompute_after_commit(
    maria, login, make_contact, django_capture_on_commit_callbacks
):
    contact = make_contact("Anna")
    client = login(maria)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/crm/contact/", {"action": "recompute_analysis", "_selected_action": [contact.pk]}, follow=True
        )
    assert "being recomputed in the background" in response.content.decode()
    queued = [task for task in OrmQ.objects.all() if task.func() == "crm.tasks.recompute_analysis"]
    assert len(queued) == 1


def test_contact_list_filters_and_sorts_by_analysis(ada, login, make_contact, item):
    anna, ben, cara = make_contact("Anna"), make_contact("Ben"), make_contact("Cara")
    buy(anna, item, days=400, amount=50)
    buy(ben, item, days=10, amount=500)
    buy(ben, item, days=12, amount=700)
    Interaction.objects.create(kind="note", contact=cara, subject="x", occurred_at=days_ago(3))
    analysis_recompute()
    client = login(ada)

    def names(query: str) -> list[str]:
        return [c.first_name for c in listed(client, f"/admin/crm/contact/?{query}")]

    assert names("purchased=30") == ["Ben"]
    assert names("purchased=older") == ["Anna"]
    assert names("purchased=never") == ["Cara"]
    assert names("interacted=30") == ["Cara"]
    assert names("spend=1000%2B") == ["Ben"]
    assert names("spend=0") == ["Cara"]
    assert set(names("rfm=none")) == {"Cara"}
    segment = ContactAnalysis.objects.get(contact=ben).segment
    assert "Ben" in names(f"rfm={segment}")
    # Sorting by total spend (column index in list_display, 1-based): descending.
    column = 1 + [
        "display_name",
        "primary_email",
        "primary_phone",
        "company",
        "stage",
        "owner",
        "tag_list",
        "rfm_segment",
        "total_spend",
    ].index("total_spend")
    assert names(f"o=-{column}")[:2] == ["Ben", "Anna"]


def test_days_since_values_make_sense_at_dst_and_leap_days(make_contact, item):
    """Dates are stored, not day counts, so figures never go stale between recomputations."""
    anna = make_contact("Anna")
    buy(anna, item, days=1, amount=1)
    analysis_recompute()
    a = ContactAnalysis.objects.get(contact=anna)
    assert timezone.now() - a.last_purchase_at < dt.timedelta(days=1, minutes=5)
