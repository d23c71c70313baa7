"""Snapshots of the system ("断面保有"), modelled on restic: one module per concept.

- ``tags``: tag names ``{env}-{type}-{version}-{date}`` and the tag record.
- ``keys``: the repository key (from a base64 key or a passphrase through scrypt) and its subkeys.
- ``chunker``: content-defined chunking (compiled FastCDC) of a stream, keyed chunk ids.
- ``crypto``: sealing and opening blobs (zstd, then AES-256-GCM with the blob id as associated data).
- ``packs``: blobs appended into pack files with an encrypted header, on a pack store (a local folder for now).
- ``index``: where each blob is (pack, offset, length); what makes storing the same content twice store it once.

Plain Python: nothing here knows Dagster.
"""
