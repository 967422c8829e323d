"""A local chain in one SQLite file: several miner and validator processes form a subnet.

It is the embedded default for running a whole subnet on one machine. The file holds the
neurons, commitments, quota usage and weights; ``RuledChain`` enforces the rules. Each call
opens its own connection and runs in one transaction (``BEGIN IMMEDIATE`` for writes), the
file is in WAL mode so readers never wait for a writer, and a busy timeout makes a writer
wait its turn instead of failing, so processes may commit at the same moment. Holding no
connection between calls, a ``LocalChain`` needs no closing and can be sent to another
process.

Blocks follow the wall clock, as a network's do, from the genesis the file records::

    block = genesis_block + floor((now - genesis_time) * blocks_per_second) + offset

where ``offset`` is what ``advance`` added; it lives in the file, so every process sees
the chain jump. Rate, genesis and offset are fixed when the file is created (12 s blocks by
default), so all processes count the same blocks.

Example:
  >>> import pathlib, tempfile
  >>> path = pathlib.Path(tempfile.mkdtemp()) / "chain.sqlite"
  >>> chain = LocalChain(path, blocks_per_second=0.0)  # a frozen clock: only advance moves it
  >>> chain.register("miner"), chain.advance(360)
  (0, 360)
  >>> chain.commit("miner", b"program")
  360
  >>> LocalChain(path).commitments()["miner"].block
  360
"""

import contextlib
import math
import os
import pathlib
import sqlite3
import time
from collections.abc import Iterator

from hivejax._src.subnet.chain import Neuron
from hivejax._src.subnet.ruled_chain import RuledChain

FORMAT = "hivejax.chain"
VERSION = 1
DEFAULT_BLOCKS_PER_SECOND = 1 / 12

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS neurons (uid INTEGER PRIMARY KEY, hotkey TEXT NOT NULL UNIQUE,"
    " stake REAL NOT NULL, validator INTEGER NOT NULL, last_update INTEGER)",
    "CREATE TABLE IF NOT EXISTS usage (hotkey TEXT PRIMARY KEY, tempo INTEGER NOT NULL,"
    " used INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS commitments (hotkey TEXT PRIMARY KEY, block INTEGER NOT NULL,"
    " payload BLOB NOT NULL)",
    # Every write, the last of a block standing, so a validator can read the past. Added
    # after the first release: a file from before starts it from its latest commitments.
    "CREATE TABLE IF NOT EXISTS commitment_history (hotkey TEXT NOT NULL, block INTEGER NOT NULL,"
    " payload BLOB NOT NULL, PRIMARY KEY (hotkey, block))",
    "INSERT OR IGNORE INTO commitment_history SELECT hotkey, block, payload FROM commitments",
    # One row per set_weights (all-zero weights have no rows in `weights` but still count).
    "CREATE TABLE IF NOT EXISTS weight_sets (validator INTEGER NOT NULL, block INTEGER NOT NULL,"
    " PRIMARY KEY (validator, block))",
    "CREATE TABLE IF NOT EXISTS weights (validator INTEGER NOT NULL, block INTEGER NOT NULL,"
    " miner INTEGER NOT NULL, weight INTEGER NOT NULL, PRIMARY KEY (validator, block, miner))",
)

_LATEST_WEIGHTS = """
    SELECT s.validator, w.miner, w.weight FROM weight_sets s
    LEFT JOIN weights w ON w.validator = s.validator AND w.block = s.block
    WHERE s.block = (SELECT MAX(block) FROM weight_sets
                     WHERE validator = s.validator AND block < ?)
    ORDER BY s.validator, w.miner
"""

_WEIGHT_HISTORY = """
    SELECT s.block, s.validator, w.miner, w.weight FROM weight_sets s
    LEFT JOIN weights w ON w.validator = s.validator AND w.block = s.block
    ORDER BY s.block, s.validator, w.miner
"""


class LocalChain(RuledChain):
    """The chain in SQLite file ``path``, created if missing.

    Args:
      path: the chain file; a file that is not a hivejax chain is refused (``ValueError``).
      blocks_per_second: the clock of a new file (default one block per 12 s; 0 stops the
        clock, leaving only ``advance``). For an existing file, ``None`` or its own rate.
      genesis_block: the first block of a new file (default 0); for an existing file,
        ``None`` or its own.
      timeout: seconds a call waits for another process's write before giving up.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        blocks_per_second: float | None = None,
        genesis_block: int | None = None,
        timeout: float = 30.0,
    ):
        if blocks_per_second is not None and not (
            math.isfinite(blocks_per_second) and blocks_per_second >= 0
        ):
            raise ValueError(f"blocks_per_second must be finite and >= 0, got {blocks_per_second}")
        if genesis_block is not None and (
            isinstance(genesis_block, bool)
            or not isinstance(genesis_block, int)
            or genesis_block < 0
        ):
            raise ValueError(f"genesis_block must be an integer >= 0, got {genesis_block!r}")
        self.path = pathlib.Path(path)
        self._timeout = timeout
        meta = self._open(blocks_per_second, genesis_block)
        self.blocks_per_second = float(meta["blocks_per_second"])
        self.genesis_block = int(meta["genesis_block"])
        self.genesis_time = float(meta["genesis_time"])
        self._check_matches("blocks_per_second", blocks_per_second, self.blocks_per_second)
        self._check_matches("genesis_block", genesis_block, self.genesis_block)

    def __repr__(self) -> str:
        return f"LocalChain({str(self.path)!r})"

    # --- opening the file ---

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # isolation_level=None: no implicit transactions; every one is begun explicitly.
        conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()

    def _open(self, blocks_per_second: float | None, genesis_block: int | None) -> dict:
        """Check the file is a chain of this version (or has no tables), then create what is
        missing; returns the file's ``meta``. Nothing is written to a file that is refused."""
        defaults = {
            "format": FORMAT,
            "version": str(VERSION),
            "genesis_time": repr(time.time()),
            "genesis_block": str(genesis_block or 0),
            "blocks_per_second": repr(
                DEFAULT_BLOCKS_PER_SECOND if blocks_per_second is None else blocks_per_second
            ),
            "offset": "0",
            # The block hashes' secret; a file from before it was added draws one on opening.
            "secret": os.urandom(32).hex(),
        }
        try:
            with self._connect() as conn:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
                if tables:
                    self._check_meta(self._read_meta(conn, tables))
                conn.execute("PRAGMA journal_mode=WAL")
                with self._in_transaction(conn, write=True):
                    for statement in _SCHEMA:
                        conn.execute(statement)
                    conn.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)", defaults.items())
                    meta = dict(conn.execute("SELECT key, value FROM meta"))
                    self._check_meta(meta)
        except sqlite3.DatabaseError as e:
            raise ValueError(f"cannot open {self.path} as a hivejax chain: {e}") from None
        return meta

    def _read_meta(self, conn: sqlite3.Connection, tables: set[str]) -> dict:
        if "meta" not in tables:
            raise ValueError(f"{self.path} is not a hivejax chain: it has no meta table")
        return dict(conn.execute("SELECT key, value FROM meta"))

    def _check_meta(self, meta: dict) -> None:
        if meta.get("format") != FORMAT:
            raise ValueError(
                f"{self.path} is not a hivejax chain: format {meta.get('format')!r}, "
                f"expected {FORMAT!r}"
            )
        if meta.get("version") != str(VERSION):
            raise ValueError(
                f"{self.path} is a hivejax chain of version {meta.get('version')}; "
                f"this hivejax reads version {VERSION}"
            )

    def _check_matches(self, name: str, asked, stored) -> None:
        if asked is not None and asked != stored:
            raise ValueError(f"{self.path} was created with {name}={stored}, not {asked}")

    # --- storage primitives ---

    @contextlib.contextmanager
    def _in_transaction(self, conn: sqlite3.Connection, write: bool) -> Iterator[None]:
        # IMMEDIATE takes the write lock at once, so a check and the write that follows it
        # cannot interleave with another process's.
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        conn.execute("COMMIT")

    @contextlib.contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn, self._in_transaction(conn, write):
            yield conn

    def _block(self, tx: sqlite3.Connection) -> int:
        (offset,) = tx.execute("SELECT value FROM meta WHERE key = 'offset'").fetchone()
        elapsed = max(0.0, time.time() - self.genesis_time)
        return self.genesis_block + math.floor(elapsed * self.blocks_per_second) + int(offset)

    def _advance(self, tx: sqlite3.Connection, n: int) -> None:
        tx.execute(
            "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + ? AS TEXT) WHERE key = 'offset'",
            (n,),
        )

    def _neurons(self, tx: sqlite3.Connection) -> list[Neuron]:
        rows = tx.execute(
            "SELECT uid, hotkey, stake, validator, last_update FROM neurons ORDER BY uid"
        )
        return [Neuron(u, h, s, bool(v), last) for u, h, s, v, last in rows]

    def _neuron(self, tx: sqlite3.Connection, hotkey: str) -> Neuron | None:
        row = tx.execute(
            "SELECT uid, hotkey, stake, validator, last_update FROM neurons WHERE hotkey = ?",
            (hotkey,),
        ).fetchone()
        return None if row is None else Neuron(row[0], row[1], row[2], bool(row[3]), row[4])

    def _add_neuron(
        self, tx: sqlite3.Connection, hotkey: str, stake: float, validator: bool
    ) -> int:
        (uid,) = tx.execute("SELECT COUNT(*) FROM neurons").fetchone()
        tx.execute(
            "INSERT INTO neurons VALUES (?, ?, ?, ?, NULL)", (uid, hotkey, stake, int(validator))
        )
        return uid

    def _usage(self, tx: sqlite3.Connection, hotkey: str) -> tuple[int, int] | None:
        row = tx.execute("SELECT tempo, used FROM usage WHERE hotkey = ?", (hotkey,)).fetchone()
        return None if row is None else (row[0], row[1])

    def _set_usage(self, tx: sqlite3.Connection, hotkey: str, tempo: int, used: int) -> None:
        tx.execute("INSERT OR REPLACE INTO usage VALUES (?, ?, ?)", (hotkey, tempo, used))

    def _put_commitment(self, tx: sqlite3.Connection, hotkey: str, block: int, payload: bytes):
        tx.execute("INSERT OR REPLACE INTO commitments VALUES (?, ?, ?)", (hotkey, block, payload))
        tx.execute(
            "INSERT OR REPLACE INTO commitment_history VALUES (?, ?, ?)", (hotkey, block, payload)
        )

    def _commitments(self, tx: sqlite3.Connection) -> list[tuple[str, int, bytes]]:
        rows = tx.execute("SELECT hotkey, block, payload FROM commitments ORDER BY hotkey")
        return [(h, b, bytes(p)) for h, b, p in rows]

    def _commitment_at(
        self, tx: sqlite3.Connection, hotkey: str, block: int
    ) -> tuple[int, bytes] | None:
        row = tx.execute(
            "SELECT block, payload FROM commitment_history WHERE hotkey = ? AND block <= ? "
            "ORDER BY block DESC LIMIT 1",
            (hotkey, block),
        ).fetchone()
        return None if row is None else (row[0], bytes(row[1]))

    def _secret(self, tx: sqlite3.Connection) -> bytes:
        (secret,) = tx.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
        return bytes.fromhex(secret)

    def _put_weights(self, tx: sqlite3.Connection, uid: int, block: int, weights: dict) -> None:
        tx.execute("INSERT INTO weight_sets VALUES (?, ?)", (uid, block))
        tx.executemany(
            "INSERT INTO weights VALUES (?, ?, ?, ?)",
            [(uid, block, miner, w) for miner, w in weights.items()],
        )
        tx.execute("UPDATE neurons SET last_update = ? WHERE uid = ?", (block, uid))

    def _weights_before(self, tx: sqlite3.Connection, block: int) -> dict[int, dict[int, int]]:
        out: dict[int, dict[int, int]] = {}
        for validator, miner, weight in tx.execute(_LATEST_WEIGHTS, (block,)):
            row = out.setdefault(validator, {})
            if miner is not None:
                row[miner] = weight
        return out

    def _weight_history(self, tx: sqlite3.Connection) -> list[tuple[int, int, dict[int, int]]]:
        out: dict[tuple[int, int], dict[int, int]] = {}
        for block, validator, miner, weight in tx.execute(_WEIGHT_HISTORY):
            row = out.setdefault((block, validator), {})
            if miner is not None:
                row[miner] = weight
        return [(block, validator, row) for (block, validator), row in out.items()]
