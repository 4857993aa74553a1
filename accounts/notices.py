"""The texts of the security notices sent to account holders (accounts.tasks.send_security_notice
mails them after commit; accounts.services.security_notice_send queues them)."""

from __future__ import annotations

_NOT_YOU = (
    "If this was not you, reset your password at once and contact support: someone may have your "
    "password or access to your account."
)

# kind -> (subject, body).
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
