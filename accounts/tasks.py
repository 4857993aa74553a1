"""Accounts tasks: e-mails that must not run inside the request (timing would leak facts).

Every task takes ids and short codes only; the texts live here and never quote a secret, a code,
an address or a device detail (a mailbox can be read by someone else too).
"""

from __future__ import annotations

from celery import shared_task
from django.core.mail import send_mail

from accounts.models import User
from accounts.notices import SECURITY_NOTICES


@shared_task(name="accounts.tasks.send_password_reset_email", acks_late=True)
def send_password_reset_email(user_public_id: str) -> bool:
    """Mail a password-reset link to an active user. The token is made here, in the worker,
    so it never travels through the broker. Returns whether a mail was sent."""
    from accounts.services import password_reset_link

    user = User.objects.filter(public_id=user_public_id, is_active=True).first()
    if user is None:
        return False
    send_mail(
        subject="Reset your password",
        message=(
            "Someone asked to reset the password of your account. If it was you, open this link "
            f"within the hour:\n\n{password_reset_link(user)}\n\n"
            "If it was not you, ignore this message: your password stays as it is. Resetting the "
            "password does not switch off your one-time codes."
        ),
        from_email=None,
        recipient_list=[user.email],
    )
    return True


@shared_task(name="accounts.tasks.send_security_notice", acks_late=True)
def send_security_notice(user_public_id: str, kind: str) -> bool:
    """Tell the account holder about a security event on their account (``SECURITY_NOTICES``).
    Idempotent in effect (a retry sends the same notice again at worst). Returns whether a mail was sent."""
    notice = SECURITY_NOTICES.get(kind)
    user = User.objects.filter(public_id=user_public_id, is_active=True).first()
    if notice is None or user is None:
        return False
    subject, body = notice
    send_mail(subject=subject, message=body, from_email=None, recipient_list=[user.email])
    return True
