"""Compile a rule's conditions into Python: closures for the trace, one generated function for speed.

Each condition becomes a ``Check`` (a test closure and a "value seen" closure for the trace); each group
one closure over its children's tests (``explain`` walks them); and the whole tree one generated function
(``_generate``), which is what evaluation calls. The active rule set and its cache: ``routing.engine.ruleset``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from routing.engine.context import Context
from routing.engine.text import compile_pattern, search

Test = Callable[[Context], bool]


@dataclass(frozen=True)
class Check:
    label: str
    test: Test
    seen: Callable[[Context], Any]


@dataclass(frozen=True)
class Group:
    match: str
    children: tuple[Check | Group, ...]
    test: Test


@dataclass(frozen=True)
class CompiledRule:
    id: int | None
    name: str
    trigger: str
    stop: bool
    group: Group
    # The whole condition tree as one generated function (``_generate``); ``group`` explains it.
    test: Test
    actions: tuple[dict[str, Any], ...]
    idle_minutes: int | None = None
    idle_waiting_for: str = ""


def _attr_norm(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().casefold()


def _getter(leaf: Mapping[str, Any], team_names: Mapping[int, str]) -> Callable[[Context], Any]:
    name = leaf["field"]
    team = team_names.get(leaf["team"], f"#{leaf['team']} (deleted)") if leaf.get("team") else None
    if name in _SIMPLE_ATTRS:
        return attrgetter(_SIMPLE_ATTRS[name])
    if name == "attribute":
        key = leaf["key"]
        return lambda ctx: ctx.attributes.get(key)
    if name == "business_hours":
        return lambda ctx: "open" if ctx.is_open(team) else "closed"
    if name == "weekday":
        return lambda ctx: ctx.local_now(team).weekday()
    if name == "time_of_day":
        return lambda ctx: ctx.local_hhmm(team)
    if name == "text":
        return lambda ctx: ctx.text
    raise ValueError(f"no getter for {name}")  # pragma: no cover - the schema refuses unknown fields


def _minutes(hhmm: str) -> int:
    parsed = dt.time.fromisoformat(hhmm)
    return parsed.hour * 60 + parsed.minute


def _text_test(op: str, value: Any) -> Test:
    if op == "matches":
        pattern = compile_pattern(value)
        key = ("regex", value)

        def matches(ctx: Context) -> bool:
            # Rules often share a pattern: search once per message.
            found = ctx.memo.get(key)
            if found is None:
                found = ctx.memo[key] = search(pattern, ctx.text) is True
            return bool(found)

        return matches
    single = frozenset(term for term in value if " " not in term)
    phrases = tuple(f" {term} " for term in value if " " in term)
    if op == "contains_all":
        return lambda ctx: single <= ctx.words and all(p in ctx.spaced for p in phrases)
    if phrases:

        def any_of(ctx: Context) -> bool:
            return not single.isdisjoint(ctx.words) or any(p in ctx.spaced for p in phrases)

    else:

        def any_of(ctx: Context) -> bool:
            return not single.isdisjoint(ctx.words)

    if op == "contains_none":
        return lambda ctx: not any_of(ctx)
    return any_of


def _test(leaf: Mapping[str, Any], get: Callable[[Context], Any], team_names: Mapping[int, str]) -> Test:
    name, op, value = leaf["field"], leaf["op"], leaf["value"]
    if name == "text":
        return _text_test(op, value)
    if name == "team":
        # Conversations hold the team's name; resolve the id now (a deleted team's name matches nothing).
        value = "" if value is None else team_names.get(value, f"\x00deleted team #{value}")
    if name == "attribute":
        wanted = _attr_norm(value)
        equal: Test = lambda ctx: (v := get(ctx)) is not None and _attr_norm(v) == wanted  # noqa: E731
        return equal if op == "is" else (lambda ctx: not equal(ctx))
    if name == "time_of_day":
        start, end = _minutes(value[0]), _minutes(value[1])

        def between(ctx: Context) -> bool:
            hhmm = get(ctx)
            minute = int(hhmm[:2]) * 60 + int(hhmm[3:])
            return start <= minute < end if start < end else (minute >= start or minute < end)

        return between
    if op == "is":
        return lambda ctx: get(ctx) == value
    if op == "is_not":
        return lambda ctx: get(ctx) != value
    if op in ("in", "not_in"):
        members = frozenset(value)
        return (lambda ctx: get(ctx) in members) if op == "in" else (lambda ctx: get(ctx) not in members)
    if op == "lt":
        return lambda ctx: (v := get(ctx)) is not None and v < value
    if op == "gt":
        return lambda ctx: (v := get(ctx)) is not None and v > value
    wanted_set = frozenset(value)
    if op == "has_any":
        return lambda ctx: not wanted_set.isdisjoint(get(ctx))
    if op == "has_all":
        return lambda ctx: wanted_set <= get(ctx)
    if op == "has_none":
        return lambda ctx: wanted_set.isdisjoint(get(ctx))
    raise ValueError(f"no operator {op}")  # pragma: no cover - the schema refuses unknown operators


def _label(leaf: Mapping[str, Any], team_names: Mapping[int, str]) -> str:
    name, op, value = leaf["field"], leaf["op"], leaf["value"]
    if name == "attribute":
        name = f"attribute {leaf['key']}"
    if name == "team" and value is not None:
        value = team_names.get(value, f"#{value} (deleted)")
    if leaf.get("team"):
        name = f"{name} of {team_names.get(leaf['team'], '#' + str(leaf['team']) + ' (deleted)')}"
    shown = ", ".join(map(str, value)) if isinstance(value, list) else ("none" if value is None else value)
    if name == "time_of_day":
        shown = f"{value[0]}–{value[1]}"
    return f"{name} {op.replace('_', ' ')} {shown}"


def _seen(leaf: Mapping[str, Any], get: Callable[[Context], Any]) -> Callable[[Context], Any]:
    if leaf["field"] in ("labels", "contact_tags"):
        return lambda ctx: sorted(get(ctx))
    if leaf["field"] == "text":
        return lambda ctx: ctx.text[:200]
    return get


def compile_group(spec: Mapping[str, Any], team_names: Mapping[int, str]) -> Group:
    children: list[Check | Group] = []
    for child in spec.get("conditions", []):
        if "field" in child:
            get = _getter(child, team_names)
            children.append(Check(_label(child, team_names), _test(child, get, team_names), _seen(child, get)))
        else:
            children.append(compile_group(child, team_names))
    tests = tuple(child.test for child in children)
    if len(tests) == 1:
        only = tests[0]
        return Group(spec.get("match", "all"), tuple(children), only)
    if spec.get("match", "all") == "any":

        def test(ctx: Context) -> bool:
            for t in tests:
                if t(ctx):
                    return True
            return not tests  # an empty group matches

    else:

        def test(ctx: Context) -> bool:
            # A plain loop, not all(): no generator per call on the hot path.
            for t in tests:  # noqa: SIM110
                if not t(ctx):
                    return False
            return True

    return Group(spec.get("match", "all"), tuple(children), test)


_SIMPLE_ATTRS = {
    "channel_kind": "channel_kind",
    "channel": "channel_id",
    "language": "language",
    "sentiment": "sentiment",
    "first_message": "first_message",
    "contact_stage": "contact_stage",
    "rfm_segment": "rfm_segment",
    "contact_owner": "owner_id",
    "status": "status",
    "priority": "priority",
    "team": "team",
    "assignee": "assignee_id",
    "message_count": "message_count",
    "labels": "label_set",
    "contact_tags": "contact_tags",
    "sla_kind": "sla_kind",
}


def _leaf_source(leaf: Mapping[str, Any], check: Check, ns: dict[str, Any], team_names: Mapping[int, str]) -> str:
    """A Python expression for one condition over ``ctx``. Only attribute names from ``_SIMPLE_ATTRS`` and
    generated identifiers appear in the source; every value from the rule is bound in ``ns``, never
    written into the code. Conditions without a simple form call their compiled closure."""
    n = len(ns)
    name, op, value = leaf["field"], leaf["op"], leaf["value"]
    attr = _SIMPLE_ATTRS.get(name)
    if name == "team":
        value = "" if value is None else team_names.get(value, f"\x00deleted team #{value}")
    single_words = name == "text" and op != "matches" and all(" " not in term for term in value)
    if single_words:
        attr, op = "words", {"contains_any": "has_any", "contains_all": "has_all", "contains_none": "has_none"}[op]
    if attr is not None and (single_words or name != "text"):
        v = f"v{n}"
        ns[v] = frozenset(value) if op in ("in", "not_in", "has_any", "has_all", "has_none") else value
        template = {
            "is": "(ctx.{a} == {v})",
            "is_not": "(ctx.{a} != {v})",
            "in": "(ctx.{a} in {v})",
            "not_in": "(ctx.{a} not in {v})",
            "lt": "((x{n} := ctx.{a}) is not None and x{n} < {v})",
            "gt": "((x{n} := ctx.{a}) is not None and x{n} > {v})",
            "has_any": "(not {v}.isdisjoint(ctx.{a}))",
            "has_all": "({v} <= ctx.{a})",
            "has_none": "{v}.isdisjoint(ctx.{a})",
        }.get(op)
        if template is not None:
            return template.format(a=attr, v=v, n=n)
    ns[f"f{n}"] = check.test
    return f"f{n}(ctx)"


def _group_source(spec: Mapping[str, Any], group: Group, ns: dict[str, Any], team_names: Mapping[int, str]) -> str:
    parts = []
    for child_spec, child in zip(spec.get("conditions", []), group.children, strict=True):
        if isinstance(child, Check):
            parts.append(_leaf_source(child_spec, child, ns, team_names))
        else:
            parts.append(_group_source(child_spec, child, ns, team_names))
    if not parts:
        return "True"
    joiner = " or " if group.match == "any" else " and "
    return f"({joiner.join(parts)})"


def _generate(spec: Mapping[str, Any], group: Group, team_names: Mapping[int, str]) -> Test:
    """One Python function per rule: a single call per rule on the hot path instead of one per condition.

    The trace still explains the rule through ``group`` (the closures), which give the same answers.
    """
    ns: dict[str, Any] = {}
    source = f"def rule_test(ctx):\n    return bool({_group_source(spec, group, ns, team_names)})\n"
    # Safe: the source holds only whitelisted attribute names and generated identifiers (see _leaf_source).
    exec(compile(source, "<routing rule>", "exec"), ns)  # noqa: S102
    test: Test = ns["rule_test"]
    return test


def compile_rule(
    *,
    rule_id: int | None,
    name: str,
    trigger: str,
    conditions: Mapping[str, Any],
    actions: Iterable[dict[str, Any]],
    stop: bool,
    team_names: Mapping[int, str],
    idle_minutes: int | None = None,
    idle_waiting_for: str = "",
) -> CompiledRule:
    group = compile_group(conditions or {}, team_names)
    return CompiledRule(
        id=rule_id,
        name=name,
        trigger=trigger,
        stop=stop,
        group=group,
        test=_generate(conditions or {}, group, team_names),
        actions=tuple(actions),
        idle_minutes=idle_minutes,
        idle_waiting_for=idle_waiting_for,
    )


def explain(node: Check | Group, ctx: Context) -> dict[str, Any]:
    """Every condition of ``node`` with the value seen and whether it passed (no short-circuit)."""
    if isinstance(node, Check):
        seen = node.seen(ctx)
        return {"condition": node.label, "seen": _plain(seen), "passed": bool(node.test(ctx))}
    parts = [explain(child, ctx) for child in node.children]
    return {"group": node.match, "passed": node.test(ctx), "conditions": parts}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | frozenset | set):
        return [_plain(v) for v in value]
    return str(value)
