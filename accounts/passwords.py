"""Password rules beyond Django's validators: letters and digits, and an upper length bound.

Messages describe the rule, never the submitted value (the error shape must not echo passwords).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError


class LettersAndDigitsValidator:
    """At least one letter and one digit (SPEC C2: 12+ characters with letters and digits)."""

    def validate(self, password: str, user: object = None) -> None:
        if not any(ch.isalpha() for ch in password) or not any(ch.isdigit() for ch in password):
            raise ValidationError(
                "The password must contain both letters and digits.", code="password_letters_and_digits"
            )

    def get_help_text(self) -> str:
        return "Your password must contain both letters and digits."


class MaximumLengthValidator:
    """Passphrases up to ``max_length`` characters are accepted; longer input is refused so a
    megabyte "password" cannot make the hasher work for nothing."""

    def __init__(self, max_length: int = 128) -> None:
        self.max_length = max_length

    def validate(self, password: str, user: object = None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                f"The password must be at most {self.max_length} characters long.",
                code="password_too_long",
                params={"max_length": self.max_length},
            )

    def get_help_text(self) -> str:
        return f"Your password can be up to {self.max_length} characters long."
