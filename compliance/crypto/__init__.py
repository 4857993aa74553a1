"""Encryption at rest for personal information (SPEC C3, POPIA s19, PCI DSS 3.5).

- ``keys``: where keys come from (environment, a key-ring file, AWS KMS envelope encryption).
- ``aead``: AES-256-GCM with a key-version prefix and associated data binding a value to its column.
- ``fields``: model fields that encrypt on save and decrypt on load.
- ``blind_index``: keyed HMAC of normalised values, for exact lookups without decryption.
- ``rotation``: re-encrypting every column under a new key version, in resumable batches.

See docs/adr/0002-field-encryption.md for the decisions behind the formats.
"""
