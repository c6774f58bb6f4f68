"""Replay the inbound messages of a window against a rule set and print what would have been different."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from routing.services.dry_run import DryRunError, candidate_rules, dry_run, report_lines


def _when(value: str, *, end: bool) -> dt.datetime:
    """``2026-06-10`` (a UTC day: its start, or for ``--until`` the end of it), ``2026-06-10T14:00`` (UTC when
    no offset is given) or ``7d`` / ``12h`` (that long ago)."""
    text = value.strip()
    if text[:-1].isdigit() and text[-1:] in ("d", "h"):
        unit = dt.timedelta(days=1) if text.endswith("d") else dt.timedelta(hours=1)
        return timezone.now() - int(text[:-1]) * unit
    moment = parse_datetime(text)
    if moment is not None:
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    day = parse_date(text)
    if day is not None:
        start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        return start + dt.timedelta(days=1) if end else start
    raise CommandError(f"“{value}” is not a date (2026-06-10), a time (2026-06-10T14:00) or an age (7d, 12h).")


class Command(BaseCommand):
    help = (
        "Dry run: replay the inbound messages of a window against the active rules (or --rules, or "
        "--rules-file with unsaved definitions) and report the differences with what happened. Changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", required=True, help="Start: 2026-06-10, 2026-06-10T14:00 (UTC) or 7d ago.")
        parser.add_argument("--until", default=None, help="End (excluded; a date means the end of that day). Now.")
        parser.add_argument("--rules", default="", help="Rule ids, comma-separated (active or not); default: active.")
        parser.add_argument(
            "--rules-file",
            default=None,
            help='JSON list of rule definitions as in the admin; with "id" they replace that saved rule.',
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since = _when(options["since"], end=False)
        until = _when(options["until"], end=True) if options["until"] else timezone.now()
        try:
            ids = [int(part) for part in options["rules"].split(",") if part.strip()]
        except ValueError:
            raise CommandError(f"--rules: “{options['rules']}” is not a list of rule ids such as 1,2,3.") from None
        definitions = None
        if options["rules_file"]:
            try:
                with open(options["rules_file"], encoding="utf-8") as handle:
                    definitions = json.load(handle)
            except OSError as exc:
                raise CommandError(f"--rules-file: {exc.strerror}: {options['rules_file']}") from None
            except json.JSONDecodeError as exc:
                raise CommandError(f"--rules-file: not valid JSON ({exc})") from None
        try:
            rules = candidate_rules(rule_ids=ids, definitions=definitions)
            report = dry_run(since=since, until=until, rules=rules)
        except DryRunError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write("\n".join(report_lines(report)))
