"""Reply templates: ``Hello {contact.first_name}, {team.name} opens {next_opening}.`` (``{{``/``}}`` for braces).

Only the variables in ``VARIABLES`` exist; a template naming another one, or using format specs
(``{contact.name:>10}``), is refused when the rule is saved. Rendering substitutes plain strings (no
attribute access, no code): a customer's name cannot inject anything.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

VARIABLES = {
    "contact.first_name": "the contact's first name",
    "contact.last_name": "the contact's last name",
    "contact.name": "the contact's full name",
    "channel.name": "the channel's name",
    "team.name": "the conversation's team (after this rule's actions)",
    "agent.name": "the assigned agent's name (after this rule's actions)",
    "conversation.id": "the conversation's number",
    "next_opening": "when the team's business hours open next, e.g. Monday 09:00 (Europe/Berlin); 'now' when open",
}
MAX_TEMPLATE = 2000


def template_problems(template: object) -> list[str]:
    if not isinstance(template, str) or not template.strip():
        return ["write the text of the message"]
    if len(template) > MAX_TEMPLATE:
        return [f"a template has at most {MAX_TEMPLATE} characters"]
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        return [f"the template's braces do not pair up ({exc}); write {{{{ and }}}} for literal braces"]
    problems = []
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in VARIABLES:
            problems.append(f"unknown variable {{{name}}} (known: {', '.join('{' + v + '}' for v in VARIABLES)})")
        elif spec or conversion:
            problems.append(f"{{{name}}}: formatting options are not supported")
    return problems


def render(template: str, values: Mapping[str, str]) -> str:
    out = []
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(values.get(name, ""))
    return "".join(out)
