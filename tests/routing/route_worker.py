"""A routing worker process for the concurrency test: ``python -m tests.routing.route_worker TEAM_ID ID…``.

It loads its conversations, prints ``ready``, waits for a line on stdin (so that every worker starts at the
same moment), routes them to the team and prints ``done``.
"""

from __future__ import annotations

import sys


def main() -> None:
    import django

    django.setup()
    from routing.models import Team
    from routing.services.assignment import conversation_route_to_team
    from social.models import Conversation

    team = Team.objects.get(pk=int(sys.argv[1]))
    conversations = list(Conversation.objects.filter(pk__in=[int(arg) for arg in sys.argv[2:]]))
    print("ready", flush=True)
    sys.stdin.readline()
    for conversation in conversations:
        conversation_route_to_team(conversation=conversation, team=team)
    print("done", flush=True)


if __name__ == "__main__":
    main()
