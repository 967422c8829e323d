"""The validator's ledger: first sightings, hash commitments and evaluations, in SQLite.

The chain keeps only each hotkey's latest commitment, with the block of that latest write,
so who had a program first is something a validator must remember itself. The ledger is
one SQLite file (WAL mode, so a reader never blocks the validator's writes) with these
tables:

- ``sightings (fingerprint, hotkey, first_block, payload_hash)``: the first block at which
  each hotkey was seen with each program fingerprint. ``record`` keeps the earliest block,
  so a miner that re-commits an equivalent program keeps its priority, and the ``owner``
  of a fingerprint is the hotkey with the earliest sighting (ties: the smallest hotkey
  string, so every validator picks the same one). A later hotkey committing the same
  program is recorded, and owns nothing.
- ``hashes (hotkey, digest, block)``: the first block of each salted hash a hotkey
  committed (``reveal``), so a reveal can be matched to a hash the chain no longer holds.
- ``seeded_evaluations (program, seeds, protocol_version, scores)``: the JSON scores of
  each evaluation of a program (the validator's key is its canonical hash) on the seeds
  that derive from ``seeds`` (a block hash), so a restarted validator repeats none. The
  first stored evaluation stands: storing another for the same key is ignored. Added when
  seeds came to derive from block hashes: a ledger from before keeps its ``evaluations``
  table, keyed by epoch numbers whose seeds were public in advance, and it is not read.
- ``reveals (hotkey, payload, priority_block, block)``: each hotkey's latest accepted
  reveal, so a program stays scored while its miner's next hash waits for its reveal (the
  chain then shows only the hash). Added after the first release: opening an older ledger
  creates it.

Every call opens a connection, runs one transaction and closes it, so nothing is left
open (no ``ResourceWarning``), a validator killed mid-call loses only that uncommitted
call, and several processes may share one ledger file. A file that is not a ledger (another
SQLite database, or not SQLite at all) is refused with a ``ValueError`` naming it.

Example:
  >>> import pathlib, tempfile
  >>> ledger = Ledger(pathlib.Path(tempfile.mkdtemp()) / "ledger.sqlite")
  >>> ledger.record("miner-a", "f00d", block=120)
  >>> ledger.record("miner-b", "f00d", block=100)
  >>> ledger.record("miner-a", "f00d", block=90)   # a re-sighting earlier than the first
  >>> ledger.owner("f00d"), ledger.first_block("f00d", "miner-a")
  ('miner-a', 90)
  >>> ledger.put_evaluation("f00d", "0x5eed", "0123456789ab", {"mean": 0.01})
  True
  >>> ledger.get_evaluation("f00d", "0x5eed", "0123456789ab")
  {'mean': 0.01}
"""

import contextlib
import json
import os
import pathlib
import sqlite3

FORMAT = "hivejax-validator-ledger"
"""The ``format`` entry of the ``meta`` table that marks a file as a ledger."""
SCHEMA_VERSION = 1
"""The ledger layout; a file of another version is refused."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sightings (
    fingerprint TEXT NOT NULL, hotkey TEXT NOT NULL, first_block INTEGER NOT NULL,
    payload_hash TEXT, PRIMARY KEY (fingerprint, hotkey));
CREATE TABLE IF NOT EXISTS hashes (
    hotkey TEXT NOT NULL, digest TEXT NOT NULL, block INTEGER NOT NULL,
    PRIMARY KEY (hotkey, digest));
"""
# Tables added after the first release: opening an older ledger creates them.
_ADDED = (
    """CREATE TABLE IF NOT EXISTS reveals (
    hotkey TEXT PRIMARY KEY, payload BLOB NOT NULL, priority_block INTEGER NOT NULL,
    block INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS seeded_evaluations (
    program TEXT NOT NULL, seeds TEXT NOT NULL, protocol_version TEXT NOT NULL,
    scores TEXT NOT NULL, PRIMARY KEY (program, seeds, protocol_version))""",
)


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return value


class Ledger:
    """The ledger in the SQLite file ``path`` (created with its directory if missing).

    Raises ``ValueError`` naming ``path`` when the file exists and is not a ledger of this
    ``SCHEMA_VERSION``.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._open_or_create()
        except sqlite3.DatabaseError as e:
            raise ValueError(f"{self.path} is not a hivejax validator ledger: {e}") from None

    def _open_or_create(self) -> None:
        with self._connect() as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if tables and "meta" not in tables:
                raise ValueError(
                    f"{self.path} is not a hivejax validator ledger: it holds the tables "
                    f"{', '.join(sorted(tables))}"
                )
            if not tables:
                conn.execute("PRAGMA journal_mode=WAL")
                # Two processes may create one ledger at once: both statements are no-ops
                # the second time.
                conn.executescript(
                    "BEGIN IMMEDIATE;" + _SCHEMA + ";INSERT OR IGNORE INTO meta VALUES "
                    f"('format', '{FORMAT}'), ('version', '{SCHEMA_VERSION}'); COMMIT;"
                )
            meta = dict(conn.execute("SELECT key, value FROM meta"))
        if meta.get("format") != FORMAT or meta.get("version") != str(SCHEMA_VERSION):
            raise ValueError(
                f"{self.path} is not a hivejax validator ledger of version {SCHEMA_VERSION}: "
                f"its meta table says format {meta.get('format')!r}, "
                f"version {meta.get('version')!r}"
            )
        with self._connect() as conn:
            for statement in _ADDED:
                conn.execute(statement)

    @contextlib.contextmanager
    def _connect(self):
        """One connection for one call: a transaction that commits on success, then closed."""
        conn = sqlite3.connect(self.path, timeout=30.0)
        try:
            with conn:  # commits, or rolls back on an exception
                yield conn
        finally:
            conn.close()

    # --- sightings and priority ---

    def record(
        self, hotkey: str, fingerprint: str, block: int, payload_hash: str | None = None
    ) -> None:
        """Remember that ``hotkey`` held a program of ``fingerprint`` at ``block``.

        The earliest block of each ``(fingerprint, hotkey)`` stands (with its payload
        hash): a later sighting changes nothing, an earlier one replaces it.
        """
        block = _check_count("block", block)
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO sightings VALUES (?, ?, ?, ?) "
                "ON CONFLICT (fingerprint, hotkey) DO UPDATE SET "
                "first_block = excluded.first_block, payload_hash = excluded.payload_hash "
                "WHERE excluded.first_block < sightings.first_block",
                (fingerprint, hotkey, block, payload_hash),
            )

    def first_block(self, fingerprint: str, hotkey: str) -> int | None:
        """The first block ``hotkey`` was seen with ``fingerprint`` (``None``: never)."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT first_block FROM sightings WHERE fingerprint = ? AND hotkey = ?",
                (fingerprint, hotkey),
            ).fetchone()
        return None if row is None else row[0]

    def owner(self, fingerprint: str) -> str | None:
        """The hotkey that owns ``fingerprint``: the earliest sighting, ties by hotkey."""
        priority = self.priority(fingerprint)
        return None if priority is None else priority[0]

    def priority(self, fingerprint: str) -> tuple[str, int] | None:
        """``(owner, first block)`` of ``fingerprint``, ``None`` if it was never seen."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT hotkey, first_block FROM sightings WHERE fingerprint = ? "
                "ORDER BY first_block, hotkey LIMIT 1",
                (fingerprint,),
            ).fetchone()
        return None if row is None else (row[0], row[1])

    # --- salted hashes of the commit-reveal protocol ---

    def record_hash(self, hotkey: str, digest: str, block: int) -> None:
        """Remember that ``hotkey`` committed the hash ``digest`` at ``block`` (first stands)."""
        block = _check_count("block", block)
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO hashes VALUES (?, ?, ?) ON CONFLICT (hotkey, digest) DO UPDATE "
                "SET block = excluded.block WHERE excluded.block < hashes.block",
                (hotkey, digest, block),
            )

    def hash_block(self, hotkey: str, digest: str) -> int | None:
        """The first block ``hotkey`` committed ``digest`` (``None``: never seen)."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT block FROM hashes WHERE hotkey = ? AND digest = ?", (hotkey, digest)
            ).fetchone()
        return None if row is None else row[0]

    # --- accepted reveals ---

    def record_reveal(self, hotkey: str, payload: bytes, priority_block: int, block: int) -> None:
        """Remember ``hotkey``'s reveal of ``payload`` (written at ``block``, priority
        ``priority_block``); the latest write stands."""
        priority_block, block = _check_count("block", priority_block), _check_count("block", block)
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO reveals VALUES (?, ?, ?, ?) ON CONFLICT (hotkey) DO UPDATE SET "
                "payload = excluded.payload, priority_block = excluded.priority_block, "
                "block = excluded.block WHERE excluded.block >= reveals.block",
                (hotkey, bytes(payload), priority_block, block),
            )

    def last_reveal(self, hotkey: str) -> tuple[bytes, int] | None:
        """``(payload, priority block)`` of ``hotkey``'s latest accepted reveal, if any."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT payload, priority_block FROM reveals WHERE hotkey = ?", (hotkey,)
            ).fetchone()
        return None if row is None else (bytes(row[0]), row[1])

    # --- evaluations ---

    def put_evaluation(self, program: str, seeds: str, protocol_version: str, scores: dict) -> bool:
        """Store the JSON-able ``scores`` of one evaluation; ``False`` (nothing written) if
        this ``(program, seeds, protocol_version)`` already has one."""
        if not isinstance(seeds, str) or not seeds:
            raise ValueError(f"seeds must be a non-empty string (a block hash), got {seeds!r}")
        text = json.dumps(scores, sort_keys=True, allow_nan=False)
        with self._connect() as conn:
            cursor = conn.execute(
                "INSERT INTO seeded_evaluations VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (program, seeds, protocol_version, text),
            )
            return cursor.rowcount == 1

    def get_evaluation(self, program: str, seeds: str, protocol_version: str) -> dict | None:
        """The stored scores of one evaluation, ``None`` if it was never stored."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT scores FROM seeded_evaluations "
                "WHERE program = ? AND seeds = ? AND protocol_version = ?",
                (program, seeds, protocol_version),
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def evaluation_count(self) -> int:
        """How many evaluations are stored: the trainings this validator has paid for."""
        with self._connect() as conn:
            return conn.execute("SELECT COUNT(*) FROM seeded_evaluations").fetchone()[0]
