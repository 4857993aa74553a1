"""A mail backend that refuses some messages, as a mail server that is down or refuses an address.

- In-process tests: ``FlakyEmailBackend.failing`` holds addresses whose messages are refused,
  ``refuse_next`` how many of the next sends are refused whatever the address.
- A real worker (``TEST_EMAIL_BACKEND``, fintech/settings/test.py): the file named by
  ``FLAKY_MAIL_FAILURES`` holds how many of the next messages are refused; each delivered
  message's recipients are appended to that path + ".sent".

The refusal's message quotes the address on purpose: the notice must record the error's class
only, never its text.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from django.core.mail.backends.locmem import EmailBackend


class FlakyEmailBackend(EmailBackend):
    failing: ClassVar[set[str]] = set()
    refuse_next: ClassVar[int] = 0  # in-process: how many of the next sends are refused

    def send_messages(self, messages):
        if FlakyEmailBackend.refuse_next > 0:
            FlakyEmailBackend.refuse_next -= 1
            raise ConnectionRefusedError(f"421 try later: {', '.join(m.to[0] for m in messages)}")
        for message in messages:
            if set(message.to) & self.failing:
                raise ConnectionRefusedError(f"550 mailbox unavailable: {', '.join(message.to)}")
        counter = os.environ.get("FLAKY_MAIL_FAILURES")
        if counter:
            path = Path(counter)
            remaining = int(path.read_text() or 0)
            if remaining > 0:
                path.write_text(str(remaining - 1))
                raise ConnectionRefusedError(f"421 try later: {', '.join(m.to[0] for m in messages)}")
            with Path(f"{counter}.sent").open("a") as sent:
                sent.writelines(f"{message.to[0]}\n" for message in messages)
        return super().send_messages(messages)
