"""Rule evaluation: 1,000 active rules with varied conditions, median time per message (target: under 1 ms).

    .venv/bin/python bench/routing_rules.py                       # 1,000 rules, 2,000 messages
    .venv/bin/python bench/routing_rules.py --rules 5000 --messages 5000 --target-ms 1

No database: the rules are validated by the admin's schema (``routing.engine.schema.conditions_clean``) and
compiled by the engine's compiler (``routing.engine.compiler``) into the same closures a worker uses; the
contexts are built in memory with business hours already compiled, as ``context_load`` leaves them.

Steps:

1. Build ``--rules`` rules (fixed seed), each with 1 to 4 conditions in an "all" group, a fifth with a nested
   "any" group: channel kind, words (any / all / none, some phrases), a regular expression (5 %), language,
   sentiment, first message, contact stage, tags, RFM segment, a custom attribute, status, priority, labels,
   team, business hours, weekday, time of day, message count. None stops processing, so every rule is
   evaluated for every message (the worst case).
2. Build ``--messages`` contexts: texts of 5 to 40 words in several languages (accents, punctuation),
   random channel kinds, tags, labels, segments, sentiment.
3. Time, per message, after one warm-up pass: the baseline (a no-op loop calling one trivial closure per
   rule: the floor of any per-rule evaluation in Python), one compiled rule, and all the rules
   (``RuleSet.matching``). Print the median and 95th percentile in microseconds, the ratio to the
   baseline, how many rules matched on average, and PASS/FAIL (median under ``--target-ms``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from routing.engine.compiler import compile_rule  # noqa: E402
from routing.engine.context import Context  # noqa: E402
from routing.engine.ruleset import RuleSet  # noqa: E402
from routing.engine.schema import conditions_clean  # noqa: E402
from routing.hours import calendar_from_parts  # noqa: E402

WORDS = (  # noqa: SIM905 - a paragraph of words reads better than a list
    "order refund delivery late broken invoice factura reembolso pedido envío rechnung lieferung kaputt "
    "commande remboursement livraison password login account cancel subscription price discount coupon "
    "thanks hello please help urgent asap angry great love awesome problem issue question shipping "
    "tracking número café ñandú straße garçon crédito débito billing payment card wallet return exchange "
    "size colour "
).split()
KINDS = ["telegram", "whatsapp", "messenger", "instagram", "email", "api", "webchat", "twilio_sms"]
LANGS = ["en", "es", "de", "fr", "pt"]
STAGES = ["lead", "prospect", "customer", "churned"]
SEGMENTS = ["", "champions", "loyal", "new", "at_risk", "lost", "hibernating"]
TAGS = ["vip", "press", "wholesale", "b2b", "newsletter", "blocked", "partner", "beta"]
LABELS = ["billing", "returns", "shipping", "tech", "sales", "spam", "escalate"]
STATUSES = ["open", "pending", "snoozed"]
TEAMS = {1: "Support", 2: "Sales", 3: "Billing"}
PATTERNS = [r"order\s*#?\d{4,}", r"\b[A-Z]{2}\d{6}\b", r"https?://\S+", r"(refund|return)s?\b", r"\d{3}-\d{4}"]


def equality(rng: random.Random, field: str, values: list[str]) -> dict[str, Any]:
    op = rng.choice(["is", "is_not", "in", "not_in"])
    return {"field": field, "op": op, "value": rng.sample(values, 2) if op.endswith("in") else rng.choice(values)}


def random_condition(rng: random.Random) -> dict[str, Any]:
    kind = rng.randrange(19)
    pick = rng.choice
    if kind == 0:
        return equality(rng, "channel_kind", KINDS)
    if kind == 1:
        terms = rng.sample(WORDS, rng.randint(1, 4)) + ([f"{pick(WORDS)} {pick(WORDS)}"] if rng.random() < 0.3 else [])
        return {"field": "text", "op": pick(["contains_any", "contains_all", "contains_none"]), "value": terms}
    if kind == 2:
        if rng.random() < 0.5:
            return {"field": "text", "op": "matches", "value": pick(PATTERNS)}
        return {"field": "text", "op": "contains_any", "value": rng.sample(WORDS, 3)}
    if kind == 3:
        return equality(rng, "language", LANGS)
    if kind == 4:
        return {"field": "sentiment", "op": pick(["lt", "gt"]), "value": round(rng.uniform(-0.8, 0.8), 2)}
    if kind == 5:
        return {"field": "first_message", "op": "is", "value": rng.random() < 0.5}
    if kind == 6:
        return equality(rng, "contact_stage", STAGES)
    if kind == 7:
        return {
            "field": "contact_tags",
            "op": pick(["has_any", "has_all", "has_none"]),
            "value": rng.sample(TAGS, rng.randint(1, 3)),
        }
    if kind == 8:
        return {"field": "rfm_segment", "op": "in", "value": rng.sample(SEGMENTS, 2)}
    if kind == 9:
        return {
            "field": "attribute",
            "op": pick(["is", "is_not"]),
            "key": pick(["plan", "region"]),
            "value": pick(["gold", "silver", "eu", "us"]),
        }
    if kind == 10:
        return equality(rng, "status", STATUSES)
    if kind == 11:
        return {"field": "priority", "op": pick(["gt", "lt", "is"]), "value": rng.randint(0, 3)}
    if kind == 12:
        return {"field": "labels", "op": pick(["has_any", "has_none"]), "value": rng.sample(LABELS, 2)}
    if kind == 13:
        return {"field": "business_hours", "op": "is", "value": pick(["open", "closed"])}
    if kind == 14:
        return {"field": "weekday", "op": pick(["in", "not_in"]), "value": rng.sample(range(7), 3)}
    if kind == 15:
        start = rng.randint(0, 22)
        return {
            "field": "time_of_day",
            "op": "between",
            "value": [f"{start:02d}:00", f"{(start + rng.randint(1, 10)) % 24:02d}:30"],
        }
    if kind == 16:
        return {"field": "message_count", "op": pick(["gt", "lt"]), "value": rng.randint(1, 20)}
    if kind == 17:
        return {"field": "channel_kind", "op": "not_in", "value": rng.sample(KINDS, 3)}
    return {"field": "text", "op": "contains_any", "value": rng.sample(WORDS, 2)}


def build_rules(count: int, rng: random.Random) -> RuleSet:
    compiled = []
    specs = {}
    for n in range(count):
        conditions: list[dict[str, Any]] = [random_condition(rng) for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.2:
            conditions.append({"match": "any", "conditions": [random_condition(rng) for _ in range(rng.randint(2, 3))]})
        spec, problems = conditions_clean({"match": "all", "conditions": conditions}, trigger="message_received")
        if problems:  # a random contradiction ("is telegram" and "is email"): keep it simple, use one condition
            spec, problems = conditions_clean(
                {"match": "all", "conditions": conditions[:1]}, trigger="message_received"
            )
            if problems:
                raise SystemExit(f"bench rule refused: {problems}")
        rule = compile_rule(
            rule_id=n, name=f"rule {n}", trigger="message_received", conditions=spec,
            actions=[{"type": "add_labels", "labels": ["x"]}], stop=False, team_names=TEAMS,
        )  # fmt: skip
        compiled.append(rule)
        specs[id(rule)] = spec
    return RuleSet.build(("bench",), {"message_received": tuple(compiled)}, specs)


def build_contexts(count: int, rng: random.Random) -> list[Context]:
    calendar = calendar_from_parts(timezone="Europe/Berlin", periods=[(d, dt.time(9), dt.time(17)) for d in range(5)])
    start = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    contexts = []
    for _ in range(count):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40)))
        if rng.random() < 0.2:
            text += f" Order #{rng.randint(1000, 99999)}!"
        ctx = Context(
            now=start + dt.timedelta(minutes=rng.randint(0, 7 * 24 * 60)),
            text=text.capitalize() + "?",
            language=rng.choice(LANGS),
            sentiment=round(rng.uniform(-1, 1), 3),
            first_message=rng.random() < 0.3,
            message_count=rng.randint(1, 30),
            channel_id=rng.randint(1, 5),
            channel_kind=rng.choice(KINDS),
            contact_stage=rng.choice(STAGES),
            contact_tags=frozenset(rng.sample(TAGS, rng.randint(0, 3))),
            rfm_segment=rng.choice(SEGMENTS),
            attributes={"plan": rng.choice(["gold", "silver"]), "region": rng.choice(["eu", "us"])},
            status=rng.choice(STATUSES),
            priority=rng.randint(0, 3),
            labels=tuple(rng.sample(LABELS, rng.randint(0, 2))),
            team=rng.choice(list(TEAMS.values())),
        )
        ctx.calendars = {"": calendar, **dict.fromkeys(TEAMS.values(), calendar)}
        ctx.calendars_loaded = {"", *TEAMS.values()}
        contexts.append(ctx)
    return contexts


def time_per_message(contexts: list[Context], evaluate: Callable[[Context], Any]) -> list[float]:
    """Microseconds per context. Each context is fresh (its per-message memo cleared), as in a worker; the
    garbage collector is paused while timing, as ``timeit`` does."""
    for ctx in contexts:  # warm-up
        evaluate(ctx)
    timings = []
    clock = time.perf_counter
    gc.disable()
    try:
        for ctx in contexts:
            ctx.memo.clear()
            started = clock()
            evaluate(ctx)
            timings.append((clock() - started) * 1e6)
    finally:
        gc.enable()
    return timings


def summary(name: str, timings: list[float], baseline: float | None = None) -> float:
    median = statistics.median(timings)
    p95 = statistics.quantiles(timings, n=20)[-1]
    ratio = f"  ×{median / baseline:.2f} the baseline" if baseline else ""
    print(f"{name:<34} median {median:9.1f} µs   p95 {p95:9.1f} µs{ratio}")
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--target-ms", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    started = time.perf_counter()
    rules = build_rules(args.rules, rng)
    compile_ms = (time.perf_counter() - started) * 1000
    contexts = build_contexts(args.messages, rng)
    every = rules.rules_for("message_received")
    print(f"{args.rules} rules validated and compiled in {compile_ms:.0f} ms; {args.messages} messages\n")

    noop_tests = tuple(lambda ctx: False for _ in every)

    def baseline(ctx: Context) -> None:
        for test in noop_tests:
            test(ctx)

    one = RuleSet(("one",), {"message_received": every[:1]})
    unindexed = RuleSet(("unindexed",), {"message_received": every})
    base = summary(f"baseline: {args.rules} no-op closures", time_per_message(contexts, baseline))
    summary(
        "one compiled rule", time_per_message(contexts, lambda ctx: list(one.matching("message_received", ctx))), base
    )
    summary(
        f"{args.rules} rules, no index",
        time_per_message(contexts, lambda ctx: list(unindexed.matching("message_received", ctx))),
        base,
    )
    timings = time_per_message(contexts, lambda ctx: list(rules.matching("message_received", ctx)))
    median = summary(f"{args.rules} compiled rules", timings, base)
    matched = statistics.mean(len(list(rules.matching("message_received", ctx))) for ctx in contexts)
    candidates = statistics.mean(len(rules.candidates("message_received", ctx) or every) for ctx in contexts)
    if any(
        list(rules.matching("message_received", ctx)) != list(unindexed.matching("message_received", ctx))
        for ctx in contexts
    ):
        raise SystemExit("the index changed the outcome")
    print(f"\nper message: {candidates:.0f} rules evaluated (the index skips the rest), {matched:.1f} matched")
    passed = median / 1000 < args.target_ms
    print(
        f"{'PASS' if passed else 'FAIL'}: median {median / 1000:.3f} ms per message (target: under {args.target_ms} ms)"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
