"""The JSON schema of a rule's conditions and actions: validation, normalisation, contradictions.

Conditions::

    {"match": "all" | "any",
     "conditions": [<condition> | {"match": "all" | "any", "conditions": [<condition>, …]}, …]}

One level of nested groups; an empty list matches every conversation. A condition is
``{"field": F, "op": OP, "value": V}`` (plus ``"key"`` for ``attribute``, optional ``"team"`` — a team id —
for ``business_hours``, ``weekday`` and ``time_of_day``). ``CONDITION_FIELDS`` lists the fields, their
operators and values. Actions: ``routing.engine.action_schema``; the whole rule: ``routing.engine.validation``.

``conditions_clean`` refuses unknown keys, fields, operators and values, bad or catastrophic regular
expressions, channels/teams/users that do not exist, and contradictions that can never be what the author
meant (``_contradictions``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import global_settings

from routing.engine.text import normalise_term, pattern_problem

LANGUAGE_CODES = frozenset(code for code, _ in global_settings.LANGUAGES)
EQUALITY = ("is", "is_not", "in", "not_in")
SETS = ("has_any", "has_all", "has_none")
MESSAGE_FIELDS = frozenset({"text", "language", "sentiment", "first_message"})
MESSAGE_TRIGGERS = frozenset({"message_received", "conversation_created", "conversation_reopened"})
SLA_TRIGGERS = frozenset({"sla_warning", "sla_breached"})
SLA_KINDS = ("first_response", "next_response", "resolution")
WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Field:
    ops: tuple[str, ...]
    describe: str
    # Checks and normalises one scalar value; raises ValueError with a message.
    scalar: Callable[[Any], Any]
    extra_keys: tuple[str, ...] = ()


def _choice(values: Callable[[], list[Any]], what: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        allowed = values()
        if value not in allowed:
            raise ValueError(f"{value!r} is not a {what} (one of: {', '.join(map(str, allowed))})")
        return value

    return check


def _kinds() -> list[str]:
    return list(apps.get_model("social", "Channel").Kind.values)


def _stages() -> list[str]:
    return list(apps.get_model("crm", "Contact").Stage.values)


def _segments() -> list[str]:
    return ["", *apps.get_model("crm", "ContactAnalysis").Segment.values]


def _statuses() -> list[str]:
    return list(apps.get_model("social", "Conversation").Status.values)


def _exists(model: str, what: str, **filters: Any) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{what}: give its id (a number) or null, not {value!r}")
        app_label, model_name = model.split(".")
        if not apps.get_model(app_label, model_name).objects.filter(pk=value, **filters).exists():
            raise ValueError(f"{what} #{value} does not exist (deleted?)")
        return value

    return check


def _required(check: Callable[[Any], Any], what: str) -> Callable[[Any], Any]:
    def inner(value: Any) -> Any:
        if value is None:
            raise ValueError(f"choose a {what}")
        return check(value)

    return inner


def _language(value: Any) -> str:
    if not isinstance(value, str) or value.strip().lower() not in LANGUAGE_CODES:
        raise ValueError(f"{value!r} is not a language code (such as en, es, pt-br)")
    return value.strip().lower()


def _number(low: float, high: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ValueError(f"enter a number from {low:g} to {high:g}, not {value!r}")
        return float(value)

    return check


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"enter a whole number from 0, not {value!r}")
    return int(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"enter true or false, not {value!r}")
    return value


def _word(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("enter words or phrases (non-empty text)")
    folded = normalise_term(value)
    if not folded:
        raise ValueError(f"{value!r} has no letters or digits to match")
    if len(folded) > 100:
        raise ValueError("a word or phrase has at most 100 characters")
    return folded


def _tag(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 64:
        raise ValueError(f"enter a name of 1 to 64 characters, not {value!r}")
    return value.strip().casefold()


def _attribute_value(value: Any) -> Any:
    if not isinstance(value, str | int | float | bool) or (isinstance(value, str) and len(value) > 200):
        raise ValueError("an attribute value is text (up to 200 characters), a number, true or false")
    return value


def _priority(value: Any) -> int:
    names = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
    if isinstance(value, str) and value.lower() in names:
        return names[value.lower()]
    if isinstance(value, bool) or not isinstance(value, int) or value not in (0, 1, 2, 3):
        raise ValueError(f"{value!r} is not a priority (low, normal, high, urgent or 0–3)")
    return int(value)


def _weekday(value: Any) -> int:
    if isinstance(value, str) and value.lower() in WEEKDAY_NAMES:
        return WEEKDAY_NAMES.index(value.lower())
    if isinstance(value, bool) or value not in range(7):
        raise ValueError(f"{value!r} is not a weekday (monday … sunday, or 0 = Monday … 6 = Sunday)")
    return int(value)


def _hhmm(value: Any) -> str:
    try:
        parsed = dt.time.fromisoformat(value) if isinstance(value, str) and len(value) == 5 else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(f"{value!r} is not a time of day written HH:MM")
    return value  # type: ignore[no-any-return]


def _open_closed(value: Any) -> str:
    if value not in ("open", "closed"):
        raise ValueError('enter "open" or "closed"')
    return str(value)


_TEAM = _exists("routing.Team", "team")
_USER = _exists("crm.User", "user", is_staff=True)
HOURS_KEYS = ("team",)

CONDITION_FIELDS: dict[str, Field] = {
    "channel_kind": Field(EQUALITY, "the channel's kind (telegram, whatsapp, …)", _choice(_kinds, "channel kind")),
    "channel": Field(EQUALITY, "a specific channel (id)", _required(_exists("social.Channel", "channel"), "channel")),
    "text": Field(
        ("contains_any", "contains_all", "contains_none", "matches"),
        "the message's text: whole words or phrases, case- and accent-insensitive; or a regular expression",
        _word,
    ),
    "language": Field(EQUALITY, "the detected language of the message (en, es, …)", _language),
    "sentiment": Field(("lt", "gt"), "the message's sentiment, -1 (negative) … 1 (positive)", _number(-1, 1)),
    "first_message": Field(("is",), "the message is the conversation's first (true/false)", _bool),
    "contact_stage": Field(EQUALITY, "the contact's lifecycle stage", _choice(_stages, "stage")),
    "contact_tags": Field(SETS, "the contact's tags", _tag),
    "rfm_segment": Field(EQUALITY, 'the contact\'s RFM segment ("" for none)', _choice(_segments, "segment")),
    "attribute": Field(("is", "is_not"), "a custom attribute's value (with key)", _attribute_value, ("key",)),
    "contact_owner": Field(("is", "is_not"), "the contact's owner (user id, null for none)", _USER),
    "status": Field(EQUALITY, "the conversation's status", _choice(_statuses, "status")),
    "priority": Field((*EQUALITY, "lt", "gt"), "the conversation's priority", _priority),
    "labels": Field(SETS, "the conversation's labels", _tag),
    "team": Field(("is", "is_not"), "the conversation's team (team id, null for none)", _TEAM),
    "assignee": Field(("is", "is_not"), "the conversation's agent (user id, null for none)", _USER),
    "business_hours": Field(("is",), '"open" or "closed" now (team\'s hours, else default)', _open_closed, HOURS_KEYS),
    "weekday": Field(("in", "not_in"), "today's weekday in the hours' time zone", _weekday, HOURS_KEYS),
    "time_of_day": Field(("between",), '["HH:MM", "HH:MM"] in the hours\' time zone', _hhmm, HOURS_KEYS),
    "message_count": Field(("is", "lt", "gt"), "messages in the conversation (both directions)", _count),
    "sla_kind": Field(
        EQUALITY,
        "SLA rules only: the clock that is about to breach or breached (first_response, next_response, resolution)",
        _choice(lambda: list(SLA_KINDS), "SLA clock kind"),
    ),
}

MAX_CONDITIONS = 50


# --- Conditions ---------------------------------------------------------------------------------------------


def _condition(raw: Any, where: str, problems: list[str]) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: a condition is an object with field, op and value")
        return None
    name = raw.get("field")
    field = CONDITION_FIELDS.get(name) if isinstance(name, str) else None
    if field is None:
        problems.append(f"{where}: unknown field {name!r} (known: {', '.join(CONDITION_FIELDS)})")
        return None
    where = f"{where} ({name})"
    unknown = set(raw) - {"field", "op", "value", *field.extra_keys}
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        return None
    op = raw.get("op")
    if op not in field.ops:
        problems.append(f"{where}: operator {op!r} is not allowed (use one of: {', '.join(field.ops)})")
        return None
    value = raw.get("value")
    out: dict[str, Any] = {"field": name, "op": op}
    try:
        if name == "text" and op == "matches":
            problem = pattern_problem(value if isinstance(value, str) else "")
            if problem:
                raise ValueError(problem)
            out["value"] = value
        elif op in ("in", "not_in", "has_any", "has_all", "has_none", "contains_any", "contains_all", "contains_none"):
            if not isinstance(value, list) or not value or len(value) > 200:
                raise ValueError("enter a list of 1 to 200 values")
            out["value"] = list(dict.fromkeys(field.scalar(item) for item in value))
        elif op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise ValueError('enter ["HH:MM", "HH:MM"] (a start and an end; the end may be past midnight)')
            start, end = (field.scalar(item) for item in value)
            if start == end:
                raise ValueError("the start and the end are the same time: the window is empty")
            out["value"] = [start, end]
        else:
            out["value"] = field.scalar(value)
        if "key" in field.extra_keys:
            key = raw.get("key")
            if not isinstance(key, str) or not key.strip():
                raise ValueError('give the attribute\'s "key"')
            out["key"] = key.strip()
        if "team" in field.extra_keys and raw.get("team") is not None:
            out["team"] = _TEAM(raw["team"])
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
        return None
    return out


def _group(raw: Any, where: str, problems: list[str], *, depth: int) -> dict[str, Any] | None:
    if raw in (None, {}, []):
        return {"match": "all", "conditions": []}
    if not isinstance(raw, dict):
        problems.append(f'{where}: write {{"match": "all", "conditions": [...]}}')
        return None
    unknown = set(raw) - {"match", "conditions"}
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        return None
    match = raw.get("match", "all")
    if match not in ("all", "any"):
        problems.append(f'{where}: "match" is "all" or "any", not {match!r}')
        return None
    items = raw.get("conditions", [])
    if not isinstance(items, list):
        problems.append(f'{where}: "conditions" must be a list')
        return None
    children: list[dict[str, Any]] = []
    for index, item in enumerate(items, start=1):
        label = f"{where}, condition {index}" if depth else f"Condition {index}"
        if isinstance(item, dict) and "match" in item and "field" not in item:
            if depth:
                problems.append(f"{label}: groups nest one level only")
                continue
            group = _group(item, f"Group {index}", problems, depth=1)
            if group is not None:
                if not group["conditions"]:
                    problems.append(f"Group {index}: an empty group; remove it or add conditions")
                children.append(group)
        else:
            condition = _condition(item, label, problems)
            if condition is not None:
                children.append(condition)
    return {"match": match, "conditions": children}


def _leaves(group: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in group["conditions"] if "field" in c]


def _contradictions(group: dict[str, Any], where: str, problems: list[str]) -> None:
    """Conditions that can never hold together in an "all" group (an "any" group is never contradictory)."""
    if group["match"] == "all":
        by_field: dict[tuple[str, Any], list[dict[str, Any]]] = {}
        for leaf in _leaves(group):
            by_field.setdefault((leaf["field"], leaf.get("key", leaf.get("team"))), []).append(leaf)
        for (name, _extra), leaves in by_field.items():
            problem = _field_contradiction(leaves)
            if problem:
                problems.append(f"{where}: {name}: {problem}; this can never match")
        kinds = {leaf["field"]: leaf for leaf in _leaves(group)}
        first, count = kinds.get("first_message"), kinds.get("message_count")
        not_one = count is not None and (
            (count["op"] == "gt" and count["value"] >= 1) or (count["op"] == "is" and count["value"] != 1)
        )
        if first and first["value"] is True and not_one:
            problems.append(f"{where}: the first message of a conversation is its only message; this can never match")
    for child in group["conditions"]:
        if "field" not in child:
            _contradictions(child, f"{where} (nested group)", problems)


def _field_contradiction(leaves: list[dict[str, Any]]) -> str | None:
    allowed: set[Any] | None = None
    excluded: set[Any] = set()
    low, high = float("-inf"), float("inf")
    required: set[Any] = set()
    forbidden: set[Any] = set()
    for leaf in leaves:
        op, value = leaf["op"], leaf["value"]
        if op in ("is", "in"):
            values = {value} if op == "is" else set(value)
            allowed = values if allowed is None else allowed & values
        elif op in ("is_not", "not_in"):
            excluded |= {value} if op == "is_not" else set(value)
        elif op == "gt":
            low = max(low, value)
        elif op == "lt":
            high = min(high, value)
        elif op in ("has_all", "contains_all"):
            required |= set(value)
        elif op in ("has_none", "contains_none"):
            forbidden |= set(value)
    if allowed is not None and not allowed - excluded:
        return "the values required and the values excluded leave nothing"
    if low >= high:
        return "the lower and upper bounds leave nothing"
    bounded = (low, high) != (float("-inf"), float("inf"))
    if allowed is not None and bounded and not any(low < v < high for v in allowed if isinstance(v, int | float)):
        return "no value required lies between the bounds"
    if required & forbidden:
        return f"{', '.join(sorted(map(str, required & forbidden)))} both required and forbidden"
    return None


def conditions_clean(raw: Any, *, trigger: str) -> tuple[dict[str, Any], list[str]]:
    problems: list[str] = []
    group = _group(raw, "Conditions", problems, depth=0)
    if group is None:
        return {"match": "all", "conditions": []}, problems
    count = sum(1 if "field" in c else len(c["conditions"]) for c in group["conditions"])
    if count > MAX_CONDITIONS:
        problems.append(f"A rule has at most {MAX_CONDITIONS} conditions ({count} given).")
    every = [leaf for c in group["conditions"] for leaf in ([c] if "field" in c else c["conditions"])]
    if trigger not in MESSAGE_TRIGGERS:
        about_message = sorted({leaf["field"] for leaf in every if leaf["field"] in MESSAGE_FIELDS})
        if about_message:
            problems.append(
                f"{', '.join(about_message)}: these look at the message, and a {trigger} rule runs without one."
            )
    if trigger not in SLA_TRIGGERS and any(leaf["field"] == "sla_kind" for leaf in every):
        problems.append(
            f"sla_kind: only SLA rules (about to breach, breached) have an SLA clock, not a {trigger} rule."
        )
    if trigger == "conversation_created":
        for leaf in every:
            if leaf["field"] == "first_message" and leaf["value"] is False:
                problems.append(
                    "A conversation is created by its first message: “first message is false” never matches."
                )
    if not problems:
        _contradictions(group, "Conditions", problems)
    return group, problems
