"""The active rules, compiled once, indexed, cached; recompiled only when a rule or a team changes.

``ruleset()`` checks a version (count and latest ``updated_at`` of rules and of teams: two aggregate
queries) and returns the cached ``RuleSet`` when it is unchanged, so a message never re-parses the JSON.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max

from routing.engine.compiler import CompiledRule, compile_rule
from routing.engine.context import Context

# Facts that no action changes during a run: a rule whose top-level "all" requires one of them is indexed
# under the values it accepts, and skipped without evaluation for a message that has none of them.
_INDEXED_FIELDS = ("channel_kind", "language", "contact_stage", "rfm_segment", "first_message")
Key = tuple[str, Any]


def _index_keys(spec: Mapping[str, Any]) -> list[Key] | None:
    """Keys at least one of which a message must have for the rule to match, or ``None`` (not indexable)."""
    conditions = spec.get("conditions", [])
    if spec.get("match", "all") != "all" and len(conditions) != 1:
        return None
    best: list[Key] | None = None
    for leaf in conditions:
        if "field" not in leaf:
            continue
        name, op, value = leaf["field"], leaf["op"], leaf["value"]
        keys: list[Key] | None = None
        if name == "text" and op == "contains_any":
            keys = [("word", term.split()[0]) for term in value]
        elif name == "text" and op == "contains_all":
            keys = [("word", value[0].split()[0])]
        elif name in _INDEXED_FIELDS and op == "is":
            keys = [(name, value)]
        elif name in _INDEXED_FIELDS and op == "in":
            keys = [(name, item) for item in value]
        if keys is not None and (best is None or len(keys) < len(best)):
            best = keys
    return best


@dataclass(frozen=True)
class _Index:
    rules: tuple[CompiledRule, ...]
    by_key: Mapping[Key, frozenset[int]]
    always: frozenset[int]  # positions of rules that must always be evaluated


@dataclass(frozen=True)
class RuleSet:
    version: tuple[Any, ...]
    by_trigger: Mapping[str, tuple[CompiledRule, ...]]
    indexes: Mapping[str, _Index] = field(default_factory=dict)

    @classmethod
    def build(
        cls, version: tuple[Any, ...], by_trigger: Mapping[str, tuple[CompiledRule, ...]], specs: Mapping[int, Any]
    ) -> RuleSet:
        """``specs``: ``id(compiled rule)`` → its conditions, to index it (see ``_index_keys``)."""
        indexes = {}
        for trigger, rules in by_trigger.items():
            by_key: dict[Key, set[int]] = {}
            always = set()
            for position, rule in enumerate(rules):
                keys = _index_keys(specs.get(id(rule)) or {})
                if keys is None:
                    always.add(position)
                for key in keys or ():
                    by_key.setdefault(key, set()).add(position)
            indexes[trigger] = _Index(rules, {k: frozenset(v) for k, v in by_key.items()}, frozenset(always))
        return cls(version, by_trigger, indexes)

    def rules_for(self, trigger: str) -> tuple[CompiledRule, ...]:
        return self.by_trigger.get(trigger, ())

    def candidates(self, trigger: str, ctx: Context) -> frozenset[int] | None:
        """Positions (in ``rules_for``) of the rules that may match ``ctx``; ``None``: all of them."""
        index = self.indexes.get(trigger)
        if index is None:
            return None
        by_key = index.by_key
        found = set(index.always)
        for key in (
            ("channel_kind", ctx.channel_kind),
            ("language", ctx.language),
            ("contact_stage", ctx.contact_stage),
            ("rfm_segment", ctx.rfm_segment),
            ("first_message", ctx.first_message),
        ):
            hit = by_key.get(key)
            if hit:
                found |= hit
        for word in ctx.words:
            hit = by_key.get(("word", word))
            if hit:
                found |= hit
        return frozenset(found)

    def matching(self, trigger: str, ctx: Context) -> Iterator[CompiledRule]:
        """The rules of ``trigger`` that match ``ctx``, in order, up to the first one that stops processing.

        Lazily: each rule is tested when the caller asks for the next one, so a caller that applies a rule's
        actions to ``ctx`` before asking (the dry run) tests the later rules on the context as they left it."""
        rules = self.by_trigger.get(trigger, ())
        candidates = self.candidates(trigger, ctx)
        positions = sorted(candidates) if candidates is not None else range(len(rules))
        for position in positions:
            rule = rules[position]
            if rule.test(ctx):
                yield rule
                if rule.stop:
                    return


_lock = threading.Lock()
_cache: dict[str, RuleSet] = {}


def _version() -> tuple[Any, ...]:
    from routing.models import Rule, Team

    rules = Rule.objects.aggregate(n=Count("id"), at=Max("updated_at"))
    teams = Team.objects.aggregate(n=Count("id"), at=Max("updated_at"))
    return (rules["n"], rules["at"], teams["n"], teams["at"])


def ruleset() -> RuleSet:
    """The active rules, compiled; recompiled only when the version changed."""
    from routing.models import Rule, Team

    version = _version()
    cached = _cache.get("rules")
    if cached is not None and cached.version == version:
        return cached
    team_names = dict(Team.objects.values_list("pk", "name"))
    active = Rule.objects.filter(is_active=True).order_by("position", "id")
    result = ruleset_build(version, active, team_names)
    with _lock:
        _cache["rules"] = result
    return result


def rule_compile(rule: Any, team_names: Mapping[int, str]) -> CompiledRule:
    """One ``Rule`` row (saved or not) compiled; the active set, the dry run and the rule test all use it."""
    return compile_rule(
        rule_id=rule.pk,
        name=rule.name,
        trigger=rule.trigger,
        conditions=rule.conditions,
        actions=rule.actions,
        stop=rule.stop_processing,
        team_names=team_names,
        idle_minutes=rule.idle_minutes,
        idle_waiting_for=rule.idle_waiting_for,
    )


def ruleset_build(version: tuple[Any, ...], rules: Iterable[Any], team_names: Mapping[int, str]) -> RuleSet:
    """``rules`` (in evaluation order) compiled and grouped by trigger."""
    by_trigger: dict[str, list[CompiledRule]] = {}
    specs: dict[int, Any] = {}
    for rule in rules:
        compiled = rule_compile(rule, team_names)
        by_trigger.setdefault(rule.trigger, []).append(compiled)
        specs[id(compiled)] = rule.conditions
    return RuleSet.build(version, {trigger: tuple(compiled) for trigger, compiled in by_trigger.items()}, specs)
