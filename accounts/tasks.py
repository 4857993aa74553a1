"""Accounts tasks: e-mails that must not run inside the request (timing would leak facts).

Every task takes ids and short codes only; the texts live here and never quote a secret, a code,
an address or a device detail (a mailbox can be read by someone else too).
"""

from __future__ import annotations

from celery import shared_task
from django.core.mail import send_mail

from accounts.models import User

_NOT_YOU = (
    "If this was not you, reset your password at once and contact support: someone may have your "
    "password or access to your account."
)

# kind -> (subject, body). Sent after commit by accounts.services.security_notice_send.
SECURITY_NOTICES: dict[str, tuple[str, str]] = {
    "mfa_enrolled": (
        "An authenticator was added to your account",
        "An authenticator app was just set up as the second factor of your account. Every session "
        f"that was open before has been signed out.\n\n{_NOT_YOU}",
    ),
    "mfa_removed": (
        "The authenticator was removed from your account",
        "The authenticator app of your account was just removed, and every session was signed out. "
        f"Until you set up a new one, logging in needs only your password.\n\n{_NOT_YOU}",
    ),
    "account_locked": (
        "Failed log-in attempts on your account",
        "There were too many failed attempts to log in to your account, so it is locked for 30 minutes "
        "for new devices. You can still log in from a device you have used before with your one-time "
        "code, or unlock the account with a password-reset link.\n\n"
        "If these attempts were not yours, nothing was changed: consider a longer password and an "
        "authenticator app.",
    ),
    "registration_attempt": (
        "Someone tried to register with your e-mail address",
        "Someone just tried to open a new account with your e-mail address. You already have an "
        "account, so nothing was created. If it was you, log in instead, or reset your password if "
        "you have forgotten it. If it was not you, you can ignore this message.",
    ),
}


@shared_task(acks_late=True)
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


@shared_task(acks_late=True)
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
