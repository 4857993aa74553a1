"""Password rules beyond Django's validators: letters and digits, an upper length bound, and
guessability (breached/common words and the user's own details; PCI DSS 8.3.6, NIST SP 800-63B
§5.1.1.2).

Messages describe the rule, never the submitted value (the error shape must not echo passwords).
"""

from __future__ import annotations

import gzip
import re
from functools import cache
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError

DEFAULT_PASSWORD_LIST = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"


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


@cache
def _common_words(path: str) -> frozenset[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return frozenset(line.strip().lower() for line in handle if line.strip())


# Substitutions people make inside words (p@ssw0rd); only between letters, so a year stays a year.
_LEET = str.maketrans({"@": "a", "4": "a", "3": "e", "1": "i", "!": "i", "0": "o", "$": "s", "5": "s", "7": "t"})
_BETWEEN_LETTERS = re.compile(r"(?<=[a-z])[@430$5!17]+(?=[a-z])")
_LETTER_RUN = re.compile(r"[a-z]+")
_EMAIL_LIKE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _normalised(text: str) -> str:
    lowered = text.lower()
    return _BETWEEN_LETTERS.sub(lambda match: match.group().translate(_LEET), lowered)


def _words(text: str, minimum: int = 3) -> list[str]:
    return [run for run in _LETTER_RUN.findall(_normalised(text)) if len(run) >= minimum]


def _mostly(word: str, password: str) -> bool:
    """Does ``word`` (repeated) make up at least half of ``password``? Then the rest is decoration
    (``Summer2024!!Summer``). A long random string that merely contains a short common word among
    its letters (a generated ``...a03345688fff6e...``) is not a decorated word."""
    return 2 * len(word) * _normalised(password).count(word) >= len(password)


class GuessablePasswordValidator:
    """Refuse passwords an attacker tries first, even when they satisfy length and character rules:

    - anything shaped like an e-mail address;
    - a common/breached password once case, leetspeak and surrounding digits or symbols are
      stripped (``P@ssw0rd2024!``);
    - one common word, however repeated and decorated (``Summer2024!!Summer``): the word making up
      at least half the password, so a generated random string that happens to contain a short
      common word among its letters is not refused;
    - the user's own e-mail address, its parts, or their names, with nothing else of substance.

    Passphrases of several words pass (NIST favours them), common words included.
    """

    def __init__(self, password_list_path: str | None = None) -> None:
        self.password_list_path = str(password_list_path or DEFAULT_PASSWORD_LIST)

    def _context(self, user: Any) -> set[str]:
        if user is None:
            return set()
        email = (getattr(user, "email", "") or "").lower()
        local, _, domain = email.partition("@")
        parts = [
            local,
            domain.split(".")[0],
            getattr(user, "first_name", "") or "",
            getattr(user, "last_name", "") or "",
        ]
        return {word for part in parts for word in _words(part, minimum=3)}

    def validate(self, password: str, user: object = None) -> None:
        common = _common_words(self.password_list_path)
        if _EMAIL_LIKE.match(password.strip()):
            raise ValidationError("The password must not be an e-mail address.", code="password_email_like")
        letters = "".join(_LETTER_RUN.findall(_normalised(password)))
        words = list(dict.fromkeys(_words(password)))
        context = self._context(user)
        personal = [word for word in words if any(word in item or item in word for item in context)]
        remaining = [word for word in words if word not in personal]
        if personal and not remaining:
            raise ValidationError(
                "The password is too close to your e-mail address or name.", code="password_too_personal"
            )
        if letters in common or (
            len(remaining) == 1 and remaining[0] in common and len(words) <= 2 and _mostly(remaining[0], password)
        ):
            raise ValidationError(
                "The password is too common or too easy to guess: use a few unrelated words.",
                code="password_too_guessable",
            )

    def get_help_text(self) -> str:
        return "Your password cannot be a common password, an e-mail address, or your own name or address."
