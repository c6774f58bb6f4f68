"""Actions of a rule: an ordered list of ``{"type": T, …}`` (``ACTION_TYPES``), validated and normalised.

``actions_clean`` refuses unknown types and keys, templates with unknown variables, teams, agents, users
and channels that do not exist, and combinations where a later action undoes or contradicts an earlier
one (``_action_contradictions``).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps

from routing.engine.schema import _TEAM, _USER, _priority
from routing.engine.templates import template_problems

ACTION_TYPES: dict[str, str] = {
    "assign_team": '{"type": "assign_team", "team": <team id>}: move to the team and give it to an agent with room '
    "by the team's strategy, or queue it (closed team: queued until the next opening)",
    "assign_agent": '{"type": "assign_agent", "team": <id, optional: the conversation\'s>, "strategy": '
    '"round_robin|least_loaded|skills|sticky" (optional), "agent": <agent profile id, optional>, "skills": [..]}',
    "reply": '{"type": "reply", "template": "Hi {contact.first_name} …"}: an automatic reply as the system sender',
    "out_of_office": '{"type": "out_of_office", "template": "…", "team": <id, optional>}: when the team is closed, '
    "reply once per conversation per closed period",
    "add_labels": '{"type": "add_labels", "labels": ["billing"]}',
    "remove_labels": '{"type": "remove_labels", "labels": ["billing"]}',
    "set_priority": '{"type": "set_priority", "priority": "low|normal|high|urgent"}',
    "set_status": '{"type": "set_status", "status": "open|pending|snoozed|resolved", "snooze_minutes": N}',
    "mark_spam": '{"type": "mark_spam"}: label "spam", resolve, leave any queue',
    "notify_email": '{"type": "notify_email", "team": <id> | "user": <id>, "message": "template (optional)"}',
    "webhook": '{"type": "webhook", "channel": <API channel id>, "url": "https://… (optional: the channel\'s '
    'partner URL)"}: signed POST from a task, retried',
    "apply_sla": '{"type": "apply_sla", "policy": <SLA policy id>}',
}
_ACTION_KEYS: dict[str, tuple[set[str], set[str]]] = {
    # action -> (required keys, optional keys)
    "assign_team": ({"team"}, set()),
    "assign_agent": (set(), {"team", "strategy", "agent", "skills"}),
    "reply": ({"template"}, set()),
    "out_of_office": ({"template"}, {"team"}),
    "add_labels": ({"labels"}, set()),
    "remove_labels": ({"labels"}, set()),
    "set_priority": ({"priority"}, set()),
    "set_status": ({"status"}, {"snooze_minutes"}),
    "mark_spam": (set(), set()),
    "notify_email": (set(), {"team", "user", "message"}),
    "webhook": ({"channel"}, {"url"}),
    "apply_sla": ({"policy"}, set()),
}
MAX_ACTIONS = 20


def _sla_policy(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"give the SLA policy's id, not {value!r}")
    # The SLA feature owns the policies: when its model exists, the id must name one.
    try:
        model = apps.get_model("routing", "SlaPolicy")
    except LookupError:
        return int(value)
    active = model.objects.filter(pk=value).values_list("is_active", flat=True).first()
    if active is None:
        raise ValueError(f"SLA policy #{value} does not exist (deleted?)")
    if not active:
        raise ValueError(f"SLA policy #{value} is inactive: activate it first")
    return int(value)


def _labels(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ValueError("enter a list of labels")
    out = []
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item.strip()) > 50:
            raise ValueError(f"a label has 1 to 50 characters, not {item!r}")
        if item.strip().lower() not in out:
            out.append(item.strip().lower())
    return out


def _action(raw: Any, where: str, problems: list[str]) -> dict[str, Any] | None:
    from routing.models import AgentProfile, TeamMembership
    from routing.models.teams import Strategy

    if not isinstance(raw, dict) or raw.get("type") not in ACTION_TYPES:
        kind = raw.get("type") if isinstance(raw, dict) else raw
        problems.append(f"{where}: unknown action {kind!r} (known: {', '.join(ACTION_TYPES)})")
        return None
    kind = raw["type"]
    where = f"{where} ({kind})"
    required, optional = _ACTION_KEYS[kind]
    unknown = set(raw) - required - optional - {"type"}
    missing = required - set(raw)
    if unknown or missing:
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        if missing:
            problems.append(f"{where}: missing {', '.join(sorted(missing))}")
        return None
    out: dict[str, Any] = {"type": kind}
    try:
        if "team" in raw and raw["team"] is not None:
            out["team"] = _TEAM(raw["team"])
        if kind == "assign_team" and out.get("team") is None:
            raise ValueError("choose a team")
        if kind == "assign_agent":
            if raw.get("strategy"):
                if raw["strategy"] not in Strategy.values:
                    raise ValueError(f"strategy {raw['strategy']!r} is not one of {', '.join(Strategy.values)}")
                out["strategy"] = raw["strategy"]
            if raw.get("agent") is not None:
                agent = raw["agent"]
                if isinstance(agent, bool) or not isinstance(agent, int):
                    raise ValueError("agent: give the agent profile's id")
                if not AgentProfile.objects.filter(pk=agent).exists():
                    raise ValueError(f"agent #{agent} does not exist (deleted?)")
                if "team" in out and not TeamMembership.objects.filter(team_id=out["team"], agent_id=agent).exists():
                    raise ValueError(f"agent #{agent} is not a member of team #{out['team']}")
                out["agent"] = agent
            if raw.get("skills") is not None:
                out["skills"] = _labels(raw["skills"])
        if kind in ("reply", "out_of_office") or (kind == "notify_email" and raw.get("message")):
            key = "template" if kind != "notify_email" else "message"
            template_errors = template_problems(raw[key])
            if template_errors:
                raise ValueError("; ".join(template_errors))
            out[key] = raw[key]
        if kind in ("add_labels", "remove_labels"):
            out["labels"] = _labels(raw["labels"])
        if kind == "set_priority":
            out["priority"] = _priority(raw["priority"])
        if kind == "set_status":
            status = raw["status"]
            if status not in ("open", "pending", "snoozed", "resolved"):
                raise ValueError(f"status {status!r} is not open, pending, snoozed or resolved")
            out["status"] = status
            minutes = raw.get("snooze_minutes")
            if status == "snoozed":
                if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 525_600:
                    raise ValueError("snoozing needs snooze_minutes, 1 to 525600 (a year)")
                out["snooze_minutes"] = minutes
            elif minutes is not None:
                raise ValueError("snooze_minutes goes with the status snoozed only")
        if kind == "notify_email":
            if (raw.get("team") is None) == (raw.get("user") is None):
                raise ValueError("give either a team or a user to e-mail")
            if raw.get("user") is not None:
                out["user"] = _USER(raw["user"])
        if kind == "webhook":
            channel_model = apps.get_model("social", "Channel")
            channel = (
                channel_model.objects.filter(pk=raw["channel"]).first() if isinstance(raw["channel"], int) else None
            )
            if channel is None or channel.kind != channel_model.Kind.API:
                raise ValueError("choose a Partner API channel (its signing secret signs the call)")
            url = raw.get("url") or channel.setting("outbound_url")
            if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 500:
                raise ValueError("give an http(s) URL (the channel has no partner URL to default to)")
            if not channel.secret("signing_secret"):
                raise ValueError("the channel has no signing secret: set it first")
            out["channel"] = channel.pk
            if raw.get("url"):
                out["url"] = url
        if kind == "apply_sla":
            out["policy"] = _sla_policy(raw["policy"])
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
        return None
    return out


def _action_contradictions(actions: list[dict[str, Any]], problems: list[str]) -> None:
    teams = {a["team"] for a in actions if a["type"] == "assign_team"}
    if len(teams) > 1:
        problems.append("Actions: assigning to two different teams; the second would undo the first.")
    for kind, key in (("set_priority", "priority"), ("set_status", "status")):
        values = {a[key] for a in actions if a["type"] == kind}
        if len(values) > 1:
            problems.append(f"Actions: {kind} twice with different values; the second would undo the first.")
    added = {label for a in actions if a["type"] == "add_labels" for label in a["labels"]}
    removed = {label for a in actions if a["type"] == "remove_labels" for label in a["labels"]}
    if added & removed:
        problems.append(f"Actions: the label(s) {', '.join(sorted(added & removed))} are both added and removed.")
    closed_at = next(
        (i for i, a in enumerate(actions) if a["type"] == "mark_spam" or a.get("status") == "resolved"), None
    )
    if closed_at is not None:
        later = [a["type"] for a in actions[closed_at + 1 :] if a["type"] in ("assign_team", "assign_agent", "reply")]
        if later:
            problems.append(
                f"Actions: {', '.join(later)} after resolving / marking as spam: a resolved conversation is not "
                "assigned, and a spammer should not get a reply. Put them first or drop them."
            )
    if any(a["type"] == "mark_spam" for a in actions) and any(a["type"] in ("reply", "out_of_office") for a in actions):
        problems.append("Actions: replying to a conversation marked as spam; drop the reply.")


def actions_clean(raw: Any) -> tuple[list[dict[str, Any]], list[str]]:
    problems: list[str] = []
    if raw in (None, ""):
        raw = []
    if not isinstance(raw, list):
        return [], ['Actions: write a list such as [{"type": "add_labels", "labels": ["vip"]}]']
    if not raw:
        problems.append("Actions: a rule needs at least one action.")
    if len(raw) > MAX_ACTIONS:
        problems.append(f"Actions: at most {MAX_ACTIONS}.")
    actions = [a for i, item in enumerate(raw, start=1) if (a := _action(item, f"Action {i}", problems)) is not None]
    if not problems:
        _action_contradictions(actions, problems)
    return actions, problems
