"""Identities: who is writing on a channel, and which contact that is.

A new sender becomes a new contact unless the provider told us an email or phone that an existing
(alive) contact already has; then the identity links to that contact. Details the sender merely typed
(``Profile.contact_details_verified`` false: the web chat form) never link: anybody can type a customer's
address, so the new contact keeps it and *Likely duplicates* offers the merge to staff. Staff can re-link
an identity, and merging contacts moves identities and conversations with
``identities_and_conversations_move``.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm.models import Contact, ContactEmail, ContactPhone, User
from crm.phones import normalize_phone
from social.connectors.base import Profile
from social.models import Channel, Conversation, Identity, Message


def _clean_phone(raw: str) -> str:
    if not raw:
        return ""
    try:
        return normalize_phone(raw)
    except ValidationError:
        return ""  # providers send what they have; an unusable number is dropped, not fatal


def _clean_email(raw: str) -> str:
    email = raw.strip().lower()
    if not email:
        return ""
    try:
        validate_email(email)
    except ValidationError:
        return ""
    return email


def _matching_contact(*, email: str, phone: str) -> Contact | None:
    """The oldest alive contact with this email, else with this phone (oldest: the most established)."""
    if email:
        match = (
            ContactEmail.objects.filter(email=email, contact__deleted_at__isnull=True)
            .order_by("contact_id")
            .values_list("contact_id", flat=True)
            .first()
        )
        if match:
            return Contact.objects.get(pk=match)
    if phone:
        match = (
            ContactPhone.objects.filter(number=phone, contact__deleted_at__isnull=True)
            .order_by("contact_id")
            .values_list("contact_id", flat=True)
            .first()
        )
        if match:
            return Contact.objects.get(pk=match)
    return None


def sender_contact(*, channel: Channel, external_id: str, profile: Profile, email: str, phone: str) -> Contact:
    """The new contact for a new sender, not saved: named after the profile (or the channel and id)."""
    first, _, last = (profile.name or profile.handle or phone or email or "").strip().partition(" ")
    if not first:
        first = f"{channel.get_kind_display()} user {external_id[-8:]}"
    return Contact(first_name=first[:100], last_name=last.strip()[:100], source=channel.get_kind_display()[:100])


def sender_details(profile: Profile) -> tuple[str, str]:
    """The (email, phone) of a profile, normalised; "" for what is missing or unusable."""
    return _clean_email(profile.email), _clean_phone(profile.phone)


def sender_identity(
    *,
    channel: Channel,
    external_id: str,
    contact: Contact,
    profile: Profile,
    email: str,
    phone: str,
    seen_at: dt.datetime,
) -> Identity:
    """The identity of a new sender, not saved."""
    return Identity(
        channel=channel,
        external_id=external_id,
        contact=contact,
        **dict(_profile_fields(profile)),
        phone=phone,
        email=email,
        last_seen_at=seen_at,
    )


def _profile_fields(profile: Profile) -> tuple[tuple[str, str], ...]:
    """The identity's columns a provider's profile fills, cut to the columns' lengths (a provider may send
    more: the name of a sender would otherwise fail the event on PostgreSQL)."""
    return (
        ("display_name", profile.name[:200]),
        ("handle", profile.handle[:200]),
        ("avatar_url", profile.avatar_url[:1000]),
    )


def identity_profile_apply(identity: Identity, profile: Profile) -> list[str]:
    """Copy the profile's name, handle and avatar onto ``identity`` where given and different; returns the
    fields changed (a change is saved with ``save()``, so that it is recorded in the history)."""
    changed = []
    for field, value in _profile_fields(profile):
        if value and getattr(identity, field) != value:
            setattr(identity, field, value)
            changed.append(field)
    return changed


def _new_contact(*, channel: Channel, external_id: str, profile: Profile, email: str, phone: str) -> Contact:
    contact = sender_contact(channel=channel, external_id=external_id, profile=profile, email=email, phone=phone)
    contact.save()
    if email:
        ContactEmail.objects.create(contact=contact, email=email, is_primary=True)
    if phone:
        ContactPhone.objects.create(contact=contact, number=phone, is_primary=True)
    return contact


def identity_resolve(*, channel: Channel, external_id: str, profile: Profile) -> Identity:
    """The identity for ``external_id`` on ``channel``, created (with its contact) on first contact.

    Safe when two deliveries from a new sender race: the loser's insert hits the unique constraint, its
    savepoint (contact included) rolls back and it reads the winner's identity.
    """
    now = timezone.now()
    identity = Identity.objects.filter(channel=channel, external_id=external_id).first()
    if identity is None:
        email, phone = sender_details(profile)
        try:
            with transaction.atomic():
                match = _matching_contact(email=email, phone=phone) if profile.contact_details_verified else None
                contact = match or _new_contact(
                    channel=channel, external_id=external_id, profile=profile, email=email, phone=phone
                )
                identity = sender_identity(
                    channel=channel,
                    external_id=external_id,
                    contact=contact,
                    profile=profile,
                    email=email,
                    phone=phone,
                    seen_at=now,
                )
                identity.save()
                return identity
        except IntegrityError:
            identity = Identity.objects.get(channel=channel, external_id=external_id)
    identity.last_seen_at = now
    changed = identity_profile_apply(identity, profile)
    if changed:
        identity.save(update_fields=[*changed, "last_seen_at"])  # a profile change: recorded in the history
    else:
        # Only the bookkeeping column (not audited): a plain UPDATE, without the audit receiver's read-back.
        Identity.objects.filter(pk=identity.pk).update(last_seen_at=now)
    return identity


def identity_relink(*, identity: Identity, contact: Contact, actor: User | None = None) -> Identity:
    """Point ``identity`` (and its conversations) at another contact: staff correcting a wrong match."""
    with transaction.atomic():
        locked = Identity.objects.select_for_update().get(pk=identity.pk)
        if locked.contact_id == contact.pk:
            return locked
        conversations = Conversation.objects.filter(identity=locked)
        _move_conversations(conversations=conversations, to_contact=contact)
        Message.objects.filter(conversation__identity=locked, sender_contact_id=locked.contact_id).update(
            sender_contact=contact
        )
        locked.contact = contact
        locked.save(update_fields=["contact"])
    return locked


def identities_and_conversations_move(*, from_contact: Contact, to_contact: Contact) -> None:
    """For a contact merge: every identity and conversation of ``from_contact`` moves to ``to_contact``.

    Where both have an unresolved conversation on the same channel, the moved one's messages join the
    survivor's and the moved conversation is closed as resolved (one open conversation per contact and
    channel). Runs in the caller's transaction when there is one.
    """
    if from_contact.pk == to_contact.pk:
        return
    with transaction.atomic():
        Identity.objects.filter(contact=from_contact).update(contact=to_contact)
        _move_conversations(conversations=Conversation.objects.filter(contact=from_contact), to_contact=to_contact)
        Message.objects.filter(sender_contact=from_contact).update(sender_contact=to_contact)


def _move_conversations(*, conversations: QuerySet[Conversation], to_contact: Contact) -> None:
    now = timezone.now()
    # Locked in id order (both sides) so that two moves touching the same rows cannot deadlock.
    moving = list(conversations.select_for_update().order_by("pk"))
    channel_ids = {c.channel_id for c in moving}
    open_at_target = {
        c.channel_id: c
        for c in Conversation.objects.select_for_update()
        .filter(contact=to_contact, channel_id__in=channel_ids)
        .exclude(status=Conversation.Status.RESOLVED)
        .exclude(pk__in=[c.pk for c in moving])
        .order_by("pk")
    }
    for conversation in moving:
        survivor = open_at_target.get(conversation.channel_id)
        if conversation.status != Conversation.Status.RESOLVED and survivor is not None:
            conversation.messages.update(conversation=survivor)
            conversation.status = Conversation.Status.RESOLVED
            conversation.resolved_at = now
            conversation.contact = to_contact
            conversation.save(update_fields=["status", "resolved_at", "contact", "updated_at"])
            survivor.last_message_at = max(
                filter(None, (survivor.last_message_at, conversation.last_message_at)), default=None
            )
            survivor.last_inbound_at = max(
                filter(None, (survivor.last_inbound_at, conversation.last_inbound_at)), default=None
            )
            survivor.save(update_fields=["last_message_at", "last_inbound_at", "updated_at"])
        else:
            conversation.contact = to_contact
            conversation.save(update_fields=["contact", "updated_at"])
            if conversation.status != Conversation.Status.RESOLVED:
                open_at_target[conversation.channel_id] = conversation
