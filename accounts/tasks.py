"""Accounts tasks: e-mails that must not run inside the request (timing would leak facts)."""

from __future__ import annotations

from celery import shared_task
from django.core.mail import send_mail

from accounts.models import User


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
