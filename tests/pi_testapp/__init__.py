"""A test-only app (installed by fintech/settings/test.py only) whose models exercise the PI
annotations, the encrypted fields and the blind indexes the way a product app would."""
