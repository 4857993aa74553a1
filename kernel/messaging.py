"""Messages to a person, through one interface whatever the channel (e-mail or SMS).

``send_message(Message(channel, to, subject, body))`` delivers through the channel's backend:

- e-mail: Django's mail backends (``EMAIL_BACKEND``: SMTP in production, console in dev, locmem
  in tests), so nothing here knows a provider;
- SMS: the backend named by ``SMS_BACKEND`` (a dotted path to a class with ``send(to, body)``).
  ``DisabledSmsBackend`` (the production default until a provider is configured) refuses, so a
  notice that cannot go out is recorded as failed instead of vanishing; ``ConsoleSmsBackend``
  (dev) prints; ``LocmemSmsBackend`` (tests) keeps the messages in ``sms_outbox``, like
  ``django.core.mail.outbox``.

``channel_for(contact)`` says which channel a contact address belongs to. Nothing here logs a
recipient or a body: they are personal information.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from django.conf import settings
from django.core.mail import send_mail
from django.utils.module_loading import import_string


class MessageChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class MessagingError(Exception):
    """A message could not be handed to its channel (no provider, a refused address)."""

    # Whether trying again can help as things are: a refused connection may, a channel with no
    # provider configured may not (compliance.dsar.notices stops retrying and tells an officer).
    permanent = False


class ChannelUnavailable(MessagingError):
    """The channel has no provider configured."""

    permanent = True


@dataclass(frozen=True)
class Message:
    channel: MessageChannel
    to: str
    subject: str
    body: str


class SmsBackend(Protocol):
    def send(self, to: str, body: str) -> None: ...


class DisabledSmsBackend:
    """No SMS provider configured: every send is refused (and the notice recorded as failed)."""

    def send(self, to: str, body: str) -> None:
        raise ChannelUnavailable("No SMS provider is configured (SMS_BACKEND).")


class ConsoleSmsBackend:
    """Development: print the message, as Django's console e-mail backend does."""

    def send(self, to: str, body: str) -> None:
        sys.stdout.write(f"SMS to {to}:\n{body}\n{'-' * 40}\n")


sms_outbox: list[tuple[str, str]] = []


class LocmemSmsBackend:
    """Tests: keep (to, body) in ``kernel.messaging.sms_outbox``."""

    def send(self, to: str, body: str) -> None:
        sms_outbox.append((to, body))


_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{6,20}$")


def channel_for(contact: str) -> MessageChannel | None:
    """The channel a contact address belongs to: an e-mail address or a phone number (else None)."""
    contact = (contact or "").strip()
    if "@" in contact:
        return MessageChannel.EMAIL
    if _PHONE.match(contact):
        return MessageChannel.SMS
    return None


def sms_backend() -> SmsBackend:
    backend: SmsBackend = import_string(getattr(settings, "SMS_BACKEND", "kernel.messaging.DisabledSmsBackend"))()
    return backend


def send_message(message: Message) -> None:
    """Deliver ``message`` through its channel; ``MessagingError`` when it cannot be handed over."""
    if message.channel == MessageChannel.EMAIL:
        try:
            send_mail(subject=message.subject, message=message.body, from_email=None, recipient_list=[message.to])
        except OSError as error:  # SMTP refused or unreachable: the type only, never the address
            raise MessagingError(f"The mail server refused the message ({type(error).__name__}).") from error
        return
    sms_backend().send(message.to, f"{message.subject}\n{message.body}")
