"""Customer analysis: purchase figures, last interaction and RFM segments, recomputed set-based.

RFM (documented in README):
- Only orders that count as a purchase are used: paid, shipped and completed (not pending, cancelled or
  refunded). Spend is the sum of order totals; mixed currencies are summed as they are.
- Recency (last purchase), frequency (order count) and monetary (total spend) are each scored 1–5 by
  quintiles over all contacts with at least one purchase: the boundary of quintile *k* is the value at
  position ⌈k·n/5⌉ in ascending order, and a score is 1 + the number of boundaries the value is above. Equal
  values always get equal scores, ties fall to the lower score (most one-order customers score F=1).
- The segment comes from R and FM = round((F + M) / 2):

  | R \\ FM | 1           | 2                   | 3                   | 4–5       |
  |--------|-------------|---------------------|---------------------|-----------|
  | 4–5    | New         | Potential loyalists | Potential loyalists | Champions |
  | 3      | Hibernating | Hibernating         | Potential loyalists | Loyal     |
  | 2      | Hibernating | Hibernating         | At risk             | At risk   |
  | 1      | Lost        | Lost                | Lost                | Can't lose|

The whole recomputation is four kinds of statement (an upsert of the aggregates, twelve boundary look-ups,
one scoring update, one clean-up), never a query per contact.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from crm.activity import activity_union_sql

PURCHASE_STATUSES = ("paid", "shipped", "completed")
# (column, score column) scored by quintiles.
DIMENSIONS = (
    ("last_purchase_at", "recency_score"),
    ("order_count", "frequency_score"),
    ("total_spend", "monetary_score"),
)


@dataclass(frozen=True)
class AnalysisResult:
    contacts: int
    purchasers: int
    boundaries: dict[str, list[Any]]
    seconds: float


def _upsert_aggregates(cursor: Any, now: Any) -> None:
    statuses = ", ".join(["%s"] * len(PURCHASE_STATUSES))
    # "* 1.0" keeps the average a decimal on SQLite, where whole amounts are stored as integers.
    cursor.execute(
        f"""
        INSERT INTO crm_contactanalysis (
            contact_id, first_purchase_at, last_purchase_at, order_count, total_spend, average_order_value,
            last_interaction_at, recency_score, frequency_score, monetary_score, segment, computed_at
        )
        SELECT c.id, p.first_at, p.last_at, COALESCE(p.n, 0), COALESCE(p.spend, 0),
               CASE WHEN p.n > 0 THEN ROUND(p.spend * 1.0 / p.n, 2) END,
               a.last_at, NULL, NULL, NULL, '', %s
        FROM crm_contact c
        LEFT JOIN (
            SELECT contact_id, MIN(ordered_at) AS first_at, MAX(ordered_at) AS last_at,
                   COUNT(*) AS n, SUM(total) AS spend
            FROM crm_order WHERE contact_id IS NOT NULL AND status IN ({statuses}) GROUP BY contact_id
        ) p ON p.contact_id = c.id
        LEFT JOIN (
            SELECT contact_id, MAX(at) AS last_at FROM ({activity_union_sql()}) s GROUP BY contact_id
        ) a ON a.contact_id = c.id
        WHERE c.deleted_at IS NULL
        ON CONFLICT (contact_id) DO UPDATE SET
            first_purchase_at = excluded.first_purchase_at, last_purchase_at = excluded.last_purchase_at,
            order_count = excluded.order_count, total_spend = excluded.total_spend,
            average_order_value = excluded.average_order_value, last_interaction_at = excluded.last_interaction_at,
            recency_score = NULL, frequency_score = NULL, monetary_score = NULL, segment = '',
            computed_at = excluded.computed_at
        """,  # noqa: S608 - only fixed SQL fragments are interpolated; values are parameters
        [now, *PURCHASE_STATUSES],
    )


def _boundaries(cursor: Any, purchasers: int) -> dict[str, list[Any]]:
    result: dict[str, list[Any]] = {}
    for column, _ in DIMENSIONS:
        values = []
        for k in range(1, 5):
            offset = max(math.ceil(k * purchasers / 5) - 1, 0)
            cursor.execute(
                f"SELECT {column} FROM crm_contactanalysis WHERE order_count > 0 ORDER BY {column} LIMIT 1 OFFSET %s",  # noqa: S608
                [offset],
            )
            values.append(cursor.fetchone()[0])
        result[column] = values
    return result


def _score_sql(column: str) -> str:
    return "(1" + "".join(f" + CASE WHEN {column} > %s THEN 1 ELSE 0 END" for _ in range(4)) + ")"


def _apply_scores(cursor: Any, boundaries: dict[str, list[Any]]) -> None:
    r_sql, f_sql, m_sql = (_score_sql(column) for column, _ in DIMENSIONS)
    fm_sql = f"(({f_sql} + {m_sql} + 1) / 2)"
    segment_sql = f"""CASE
        WHEN {r_sql} >= 4 AND {fm_sql} >= 4 THEN 'champions'
        WHEN {r_sql} >= 4 AND {fm_sql} >= 2 THEN 'potential_loyalists'
        WHEN {r_sql} >= 4 THEN 'new'
        WHEN {r_sql} = 3 AND {fm_sql} >= 4 THEN 'loyal'
        WHEN {r_sql} = 3 AND {fm_sql} = 3 THEN 'potential_loyalists'
        WHEN {r_sql} = 3 THEN 'hibernating'
        WHEN {r_sql} = 2 AND {fm_sql} >= 3 THEN 'at_risk'
        WHEN {r_sql} = 2 THEN 'hibernating'
        WHEN {fm_sql} >= 4 THEN 'cant_lose'
        ELSE 'lost' END"""
    r, f, m = (boundaries[column] for column, _ in DIMENSIONS)
    # Parameters in the order their placeholders appear in the statement.
    fm = [*f, *m]
    segment_params = [*r, *fm, *r, *fm, *r, *r, *fm, *r, *fm, *r, *r, *fm, *r, *fm]
    cursor.execute(
        f"""UPDATE crm_contactanalysis SET recency_score = {r_sql}, frequency_score = {f_sql},
            monetary_score = {m_sql}, segment = {segment_sql} WHERE order_count > 0""",  # noqa: S608
        [*r, *f, *m, *segment_params],
    )


def analysis_recompute(*, progress: Callable[[str], None] | None = None) -> AnalysisResult:
    """Recompute every alive contact's analysis row, in one transaction (readers see old or new, never half).

    Steps: 1. upsert purchase and activity aggregates for all alive contacts; 2. drop rows of deleted
    contacts; 3. read the quintile boundaries; 4. score and segment the purchasers in one update.
    """
    started = timezone.now()
    step = progress or (lambda _name: None)
    with transaction.atomic(), connection.cursor() as cursor:
        step("aggregates")
        _upsert_aggregates(cursor, started)
        step("clean-up")
        cursor.execute(
            "DELETE FROM crm_contactanalysis"
            " WHERE contact_id IN (SELECT id FROM crm_contact WHERE deleted_at IS NOT NULL)"
        )
        cursor.execute("SELECT COUNT(*) FROM crm_contactanalysis")
        contacts = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM crm_contactanalysis WHERE order_count > 0")
        purchasers = cursor.fetchone()[0]
        step("boundaries")
        boundaries = _boundaries(cursor, purchasers) if purchasers else {}
        step("scores")
        if purchasers:
            _apply_scores(cursor, boundaries)
    seconds = (timezone.now() - started).total_seconds()
    return AnalysisResult(contacts=contacts, purchasers=purchasers, boundaries=boundaries, seconds=seconds)
