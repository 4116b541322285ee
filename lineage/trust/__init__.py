"""The tamper-evident store's cryptography: Merkle trees, signed notes, checkpoints, proofs.

Pure functions and small value types with no database access, so the store,
the consumer and a third party's verifier all run the same code:

- :mod:`~jejak.lineage.trust.merkle`: RFC 9162 tree heads, inclusion and
  consistency proofs, and :class:`~jejak.lineage.trust.merkle.CompactRange`
  for appending one leaf at a time;
- :mod:`~jejak.lineage.trust.note`: C2SP signed notes with Ed25519 keys in the
  key-string formats of Go's ``golang.org/x/mod/sumdb/note``;
- :mod:`~jejak.lineage.trust.checkpoint`: C2SP tlog-checkpoint bodies, signed
  as notes;
- :mod:`~jejak.lineage.trust.proof`: the inclusion-proof file a third party
  checks with ``jejak verify-proof``;
- :mod:`~jejak.lineage.trust.keys`: signer key files (mode 0600) and their
  ``.pub`` verifier keys.

The formats are written down in ``docs/trust.md``. Failures are subclasses of
:class:`jejak.errors.TrustError` (:mod:`~jejak.lineage.trust.errors`).
"""
