"""Snapshots of the system ("断面保有"), modelled on restic: one module per concept.

- ``tags``: tag names ``{env}-{type}-{version}-{date}`` and the tag record.
- ``keys``: the repository key (from a base64 key or a passphrase through scrypt) and its subkeys.
- ``chunker``: content-defined chunking (compiled FastCDC) of a stream, keyed chunk ids.
- ``crypto``: sealing and opening blobs (zstd, then AES-256-GCM with the blob id as associated data).
- ``packs``: blobs appended into pack files with an encrypted header, on a pack store (a local folder for now).
- ``backend``: where objects are stored (``Backend``; ``LocalBackend`` a folder), published whole from spools;
  ``s3_backend``: the same on S3 or any S3-compatible endpoint.
- ``index``: where each blob is (pack, offset, length); what makes storing the same content twice store it once.
- ``blobs``: saving blobs once each into packs (sealing in a thread pool) and loading them checked against their id.
- ``config``: the repository's configuration; opening it checks the key.
- ``diff``: files added, removed and changed between two snapshots; a unified diff of text components.
- ``retention`` / ``prune``: which snapshots to keep (daily, weekly, tagged, bases of kept incrementals), and
  removing what no kept snapshot needs.
- ``locks``: shared and exclusive repository locks, stale ones cleared.
- ``check``: proving the repository (``restic check --read-data``), every problem named.
- ``tag_store``: tags kept in the repository; create, show, delete, search.
- ``manifests``: what a snapshot holds, per component; sealed and named by the hash of its content.
- ``archiver`` / ``restorer``: a folder's files into the store; files back into a target, never outside it.
- ``repository``: an opened repository (store, configuration, keys) and reading files back from it;
  ``stored_file``: a stored file read in place, only the chunks a read touches.
- ``databases``: the warehouse as one file (``pg_dump -Fc -Z0`` streamed, ``pg_restore`` in one transaction;
  SQLite's file held unchanged or its online backup) and ``tables``: its tables as key-ordered Arrow batches,
  Parquet, checksums, deltas.
- ``capture``: taking a snapshot (full, or primary-key incremental against the last full), components in parallel;
  ``row_groups``: a full's table Parquet indexed by row group, so an incremental compares only the changed groups;
  ``stored_tables``: a snapshot's tables read back (an incremental's rebuilt from its base and delta).
- ``restore``: the restore procedure (stop, database, files, configuration, integrity, post-check, release).
- ``table_diff``: row-level differences between two snapshots' warehouses by primary key.
- ``oplog``: the operations log kept in the store; ``cold``: the cold tier (whole archives, thaw);
  ``scratch``: scratch folders that a killed process does not leave behind.

Plain Python: nothing here knows Dagster.
"""
