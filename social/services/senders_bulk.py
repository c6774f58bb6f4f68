"""New senders and new conversations of an inbound batch, created set-based.

``inbound_batch`` meets a few new senders in most batches. One at a time (``identity_resolve``,
``conversation_for_inbound``) each cost a savepoint, four to six INSERTs and as many audit entries: half of a
batch's time. Here the batch's new contacts, addresses, identities and conversations are each one
``INSERT``, and their audit entries one more (``crm.services.bulk_audit``: the entries auditlog writes on a
``save()``, same content); the partner webhook events a ``save()`` announces (``contact.created``,
``conversation.created``) are announced the same way.

Two drains may meet the same new sender (its first messages claimed by both): a transaction-scoped advisory
lock per (channel, sender), taken in one order, makes the second wait and then find the first one's
identity. A sender whose profile carries provider-verified e-mail or phone goes through ``identity_resolve``,
which links it to an existing contact with that address.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from auditlog.models import LogEntry
from django.db import connection
from django.utils import timezone

from crm.models import Contact, ContactEmail, ContactPhone
from crm.services.bulk_audit import audit_diff, audit_entry, audit_write
from crm.services.bulk_sql import created_announce
from social.connectors.base import Profile
from social.models import Channel, Conversation, Identity
from social.services.identities import identity_resolve, sender_contact, sender_details, sender_identity


def identities_for_senders(
    *, channel: Channel, profiles: Mapping[str, Profile], known: Mapping[str, int]
) -> dict[str, int]:
    """External user id -> identity id for every sender in ``profiles`` (the latest profile of each),
    creating the missing ones with their contacts. ``known``: the ids the caller has read. Inside the
    caller's transaction."""
    known = dict(known)
    if len(known) == len(profiles):
        return known
    _lock_senders(channel, [external_id for external_id in profiles if external_id not in known])
    known = _known(channel, profiles)  # another drain may have created some while we waited
    new: list[tuple[str, Profile, str, str]] = []
    for external_id in sorted(set(profiles) - set(known)):
        profile = profiles[external_id]
        email, phone = sender_details(profile)
        if profile.contact_details_verified and (email or phone):  # may be an existing contact's
            known[external_id] = identity_resolve(channel=channel, external_id=external_id, profile=profile).pk
        else:
            new.append((external_id, profile, email, phone))
    if new:
        known.update(_create(channel, new))
    return known


def conversations_create(*, channel: Channel, identities: Iterable[Identity]) -> dict[int, Conversation]:
    """Contact id -> a new open conversation on ``channel``, one per contact of ``identities`` (whose rows the
    caller has locked; none of these contacts has an unresolved or resolved conversation on ``channel``)."""
    by_contact = {identity.contact_id: identity for identity in identities}
    rows = [Conversation(channel=channel, contact_id=contact_id, identity=i) for contact_id, i in by_contact.items()]
    Conversation.objects.bulk_create(rows)
    audit_write([audit_entry(c, LogEntry.Action.CREATE, audit_diff(None, c)) for c in rows])
    created_announce(rows)
    return {conversation.contact_id: conversation for conversation in rows}


def _known(channel: Channel, profiles: Mapping[str, Profile]) -> dict[str, int]:
    return dict(
        Identity.objects.filter(channel=channel, external_id__in=list(profiles)).values_list("external_id", "pk")
    )


def _lock_senders(channel: Channel, external_ids: list[str]) -> None:
    """Transaction-scoped advisory locks on (channel, sender), in key order (PostgreSQL; SQLite serialises
    writers anyway). Keys are 64-bit hashes: a collision only makes two senders wait for each other."""
    if connection.vendor != "postgresql" or not external_ids:
        return
    keys = sorted(
        {
            int.from_bytes(
                hashlib.blake2b(f"social.identity:{channel.pk}:{x}".encode(), digest_size=8).digest(),
                "big",
                signed=True,
            )
            for x in external_ids
        }
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT unnest(%s::bigint[]) AS k ORDER BY 1) AS keys",
            [keys],
        )


def _create(channel: Channel, new: list[tuple[str, Profile, str, str]]) -> dict[str, int]:
    now = timezone.now()
    contacts = []
    for external_id, profile, email, phone in new:
        contact = sender_contact(channel=channel, external_id=external_id, profile=profile, email=email, phone=phone)
        contact.search_name = contact.full_name.lower()  # what Contact.save() sets
        contacts.append(contact)
    Contact.objects.bulk_create(contacts)
    emails = [
        ContactEmail(contact=contact, email=email, is_primary=True)
        for contact, (_x, _p, email, _ph) in zip(contacts, new, strict=True)
        if email
    ]
    phones = [
        ContactPhone(contact=contact, number=phone, is_primary=True)
        for contact, (_x, _p, _e, phone) in zip(contacts, new, strict=True)
        if phone
    ]
    ContactEmail.objects.bulk_create(emails)
    ContactPhone.objects.bulk_create(phones)
    identities = [
        sender_identity(
            channel=channel, external_id=external_id, contact=contact, profile=profile, email=e, phone=p, seen_at=now
        )
        for contact, (external_id, profile, e, p) in zip(contacts, new, strict=True)
    ]
    Identity.objects.bulk_create(identities)
    audit_write(
        [
            audit_entry(row, LogEntry.Action.CREATE, audit_diff(None, row))
            for row in (*contacts, *emails, *phones, *identities)
        ]
    )
    created_announce([*contacts, *emails, *phones, *identities])
    return {identity.external_id: identity.pk for identity in identities}
