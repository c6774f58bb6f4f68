"""Engage: from a mention, staff answer its author.

* A comment on a connected channel whose connector answers comments (``Connector.comment_replies``): a
  **public reply** under the comment or a **private reply** to the author's inbox. Either is a message in
  the author's conversation on that channel (opened if needed, the author's identity and contact created
  on first contact), sent by the ordinary outbound task with its retries; the mention keeps the link.
* Anything else (feeds, partners, an Instagram @mention on someone else's post, an inactive channel): a
  **task** (a CRM interaction of kind task, due tomorrow) for the contact's owner, or the staff member
  acting when the contact has none, reading "Reply to @x on <source>: <url>". An author who is not a
  contact yet becomes one (a lead, source "Listening"). The mention keeps the link to the task.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm.models import Contact, Interaction, User
from social.connectors import connector_for
from social.connectors.base import Profile
from social.models import Identity, Mention, SourceKind
from social.services.conversations import conversation_for_inbound
from social.services.identities import identity_resolve
from social.services.outbound import comment_reply_queue

PUBLIC, PRIVATE, TASK = "public", "private", "task"
MODE_LABELS = {PUBLIC: "Public reply under the comment", PRIVATE: "Private reply (direct message)", TASK: "Task"}
TASK_DUE = dt.timedelta(days=1)


class EngageRefused(ValidationError):
    """The chosen way of answering is not possible for this mention (shown to staff as is)."""


def engage_modes(mention: Mention) -> list[str]:
    """The ways this mention can be answered, best first; a task is always possible."""
    channel = mention.channel
    if mention.source_kind != SourceKind.CHANNEL_COMMENT or channel is None or not channel.is_active:
        return [TASK]
    connector = connector_for(channel.kind)
    if connector is None or mention.source_meta.get("kind") == "mention":
        return [TASK]  # an @mention on someone else's post: answered from the app, not from here
    modes = [mode for mode in (PUBLIC, PRIVATE) if mode in connector.comment_replies]
    if PRIVATE in modes and not mention.author_external_id:
        modes.remove(PRIVATE)
    return [*modes, TASK]


def mention_engage(*, mention: Mention, mode: str, text: str, user: User) -> Mention:
    """Answer the mention's author as ``mode`` (see ``engage_modes``); raises ``EngageRefused``."""
    if mode not in engage_modes(mention):
        raise EngageRefused(f"“{MODE_LABELS.get(mode, mode)}” is not possible for this mention.")
    if mode == TASK:
        return _task(mention=mention, text=text, user=user)
    if not text.strip():
        raise EngageRefused("Write the reply.")
    return _reply(mention=mention, mode=mode, text=text, user=user)


def _reply(*, mention: Mention, mode: str, text: str, user: User) -> Mention:
    channel = mention.channel
    if channel is None:  # pragma: no cover - engage_modes offers replies only for channel comments
        raise EngageRefused("This mention did not come from a channel.")
    with transaction.atomic():
        locked = Mention.objects.select_for_update().get(pk=mention.pk)
        identity = identity_resolve(
            channel=channel,
            # A commenter without a user id (rare) still gets one identity per comment thread.
            external_id=locked.author_external_id or f"comment:{locked.external_id}",
            profile=Profile(name=locked.author_name, handle=locked.author_handle),
        )
        # Serialises with inbound messages of this person: the same lock ``_store_message`` takes.
        identity = Identity.objects.select_for_update().get(pk=identity.pk)
        conversation = conversation_for_inbound(identity=identity)
        comment_reply_queue(conversation=conversation, comment_id=locked.external_id, mode=mode, text=text, user=user)
        locked.conversation = conversation
        locked.contact_id = locked.contact_id or identity.contact_id
        locked.save(update_fields=["conversation", "contact"])
    return locked


def _task(*, mention: Mention, text: str, user: User) -> Mention:
    with transaction.atomic():
        locked = Mention.objects.select_for_update().get(pk=mention.pk)
        if locked.task_id is not None and not Interaction.objects.filter(pk=locked.task_id, done=True).exists():
            raise EngageRefused("This mention already has an open task.")
        contact = locked.contact or _contact_for_author(locked)
        now = timezone.now()
        task = Interaction(
            kind=Interaction.Kind.TASK,
            subject=task_subject(locked)[:255],
            body="\n\n".join(part for part in (text.strip(), f"They wrote: {locked.text}") if part),
            occurred_at=now,
            due_at=now + TASK_DUE,
            staff=contact.owner or user,
            contact=contact,
        )
        task.full_clean()
        task.save()
        locked.task, locked.contact = task, contact
        locked.save(update_fields=["task", "contact"])
    return locked


def task_subject(mention: Mention) -> str:
    who = mention.author_handle or mention.author_name or "the author"
    if mention.author_handle and not who.startswith("@"):
        who = f"@{who}"
    where = mention.channel or mention.feed or mention.partner or mention.get_source_kind_display()
    return f"Reply to {who} on {where}: {mention.url or '(no link)'}"


def _contact_for_author(mention: Mention) -> Contact:
    name = mention.author_name or mention.author_handle.lstrip("@") or "Unknown author"
    first, _, last = name.strip().partition(" ")
    return Contact.objects.create(first_name=first[:100], last_name=last.strip()[:100], source="Listening")
