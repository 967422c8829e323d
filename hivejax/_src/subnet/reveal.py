"""Commit-reveal: a program stays secret until the block that gives it priority is fixed.

Why: a commitment is public the moment it is on chain, and the chain keeps only each
hotkey's latest commitment with the block of that latest write. A copier who reads a
program could commit it (or a training-neutral variant) before a validator has seen the
original, or after the original's owner has moved on, and the chain would not say who
was first. So a miner commits in two steps:

1. **hash**: ``make_hash_commitment(payload, salt, hotkey)``, ``b"HJH"``, the version and
   ``SHA-256(len(hotkey) || hotkey || salt || payload)`` (36 bytes; the length is two
   bytes, big-endian, of the UTF-8 hotkey), with ``salt`` 16 random bytes (``new_salt``),
   so the hash of a guessable payload cannot be matched by trying candidates. The digest
   names the hotkey: a copier who commits a victim's hash bytes in the same block, then
   replays the victim's reveal, holds a hash of the victim's hotkey, not its own, and the
   reveal is refused (``"unknown_hash"``);
2. **reveal**, in a later block, at most ``REVEAL_WINDOW`` blocks (one tempo) after the
   hash: ``make_reveal(payload, salt, hash_block)``, ``b"HJR"``, the version, the block
   of the hash (4 bytes, big-endian), the salt and the payload (a commitment of
   ``commitment.encode``). A reveal later than that is ``"expired"``, so a hash cannot be
   banked for a program found later while keeping its early priority.

A validator reads every hotkey's latest commitment each interval and passes it to
``observe``: a hash is remembered in its ledger with the block the chain gives for it
(``Ledger.record_hash``; first sighting stands), and a reveal is accepted only if the same
hotkey committed its hash in an earlier block, which is the program's priority block.
Where the validator's ledger does not hold that hash at the block the reveal names (it
started late, lost its ledger, or missed a hash written and replaced between two of its
reads), it reads the hotkey's commitment at that block from the chain's history
(``Chain.commitment_at``) and accepts the reveal if the hash was there. So every
validator reaches the same owners and priorities from the chain alone, whenever it
started. A copier sees the payload only in the reveal, after the owner's hash block, so
any hash the copier commits afterwards is later. The quota of
``rules.QUOTA_BYTES_PER_TEMPO`` bounds how many hashes a hotkey can make a validator
remember.

A reveal must fit one commitment, ``rules.MAX_PAYLOAD`` bytes: the 24-byte header, block
and salt leave ``MAX_REVEALED`` (360) bytes for the payload.

``parse`` never raises: bytes that are neither are ``commitment.Rejected`` with a reason
from ``REASONS``.

Example:
  >>> import pathlib, tempfile
  >>> from hivejax._src.subnet.ledger import Ledger
  >>> ledger = Ledger(pathlib.Path(tempfile.mkdtemp()) / "ledger.sqlite")
  >>> salt = bytes(range(16))
  >>> hashed = make_hash_commitment(b"HJC...", salt, "miner")
  >>> observe(ledger, "miner", 10, hashed).digest.hex()[:8]
  'c11474d9'
  >>> observe(ledger, "copier", 10, hashed).digest.hex()[:8]  # the same bytes, same block
  'c11474d9'
  >>> observe(ledger, "miner", 25, make_reveal(b"HJC...", salt, 10))
  Accepted(payload=b'HJC...', priority_block=10)
  >>> observe(ledger, "copier", 30, make_reveal(b"HJC...", salt, 10))
  Rejected(reason='unknown_hash', detail='copier committed no hash a3fe1e44... at block 10')
"""

import dataclasses
import hashlib
import secrets
from collections.abc import Callable

from hivejax._src.subnet.chain import Commitment
from hivejax._src.subnet.commitment import Rejected, envelope
from hivejax._src.subnet.ledger import Ledger
from hivejax._src.subnet.rules import MAX_PAYLOAD, TEMPO

HASH_MAGIC = b"HJH"
REVEAL_MAGIC = b"HJR"
VERSION = 3
"""Version 1 hashed ``salt || payload`` without the hotkey, and version 2's reveal did not
name its hash's block; their commitments are refused."""
REVEAL_WINDOW = TEMPO
"""Blocks after its hash within which a reveal counts."""
SALT_BYTES = 16
DIGEST_BYTES = 32
BLOCK_BYTES = 4
HEADER_BYTES = len(HASH_MAGIC) + 1
HASH_COMMIT_BYTES = HEADER_BYTES + DIGEST_BYTES
REVEAL_FIXED_BYTES = HEADER_BYTES + BLOCK_BYTES + SALT_BYTES
MAX_REVEALED = MAX_PAYLOAD - REVEAL_FIXED_BYTES
"""The largest payload a reveal carries within one commitment."""

REASONS = (
    "not_bytes",
    "empty",
    "too_large",  # more than rules.MAX_PAYLOAD bytes
    "bad_magic",  # neither a hash commitment nor a reveal
    "truncated",  # shorter than its kind's fixed part
    "bad_version",
    "bad_length",  # a hash commitment of the wrong length
    "unknown_hash",  # observe: no hash of this reveal from this hotkey at the block it names
    "not_earlier",  # observe: the hash was first seen at or after the reveal's block
    "expired",  # observe: the reveal came more than REVEAL_WINDOW blocks after its hash
)
"""Every reason ``parse`` and ``observe`` may give."""


@dataclasses.dataclass(frozen=True)
class HashCommit:
    """The first step: ``digest`` is ``SHA-256(len(hotkey) || hotkey || salt || payload)``."""

    digest: bytes


@dataclasses.dataclass(frozen=True)
class Reveal:
    """The second step: the ``salt`` and the ``payload`` whose hash was committed at
    ``hash_block``."""

    hash_block: int
    salt: bytes
    payload: bytes

    def digest_for(self, hotkey: str) -> bytes:
        """The digest of the hash this reveal matches when ``hotkey`` writes it."""
        return _digest(self.payload, self.salt, hotkey)


@dataclasses.dataclass(frozen=True)
class Accepted:
    """A reveal that matches an earlier hash of its hotkey; priority is the hash's block."""

    payload: bytes
    priority_block: int


def new_salt() -> bytes:
    """16 random bytes from the operating system's secure generator."""
    return secrets.token_bytes(SALT_BYTES)


def _digest(payload: bytes, salt: bytes, hotkey: str) -> bytes:
    name = hotkey.encode()
    return hashlib.sha256(len(name).to_bytes(2, "big") + name + salt + payload).digest()


def _check(payload: bytes, salt: bytes) -> tuple[bytes, bytes]:
    if not isinstance(payload, bytes | bytearray) or not isinstance(salt, bytes | bytearray):
        raise TypeError("payload and salt must be bytes")
    if len(salt) != SALT_BYTES:
        raise ValueError(f"a salt has {SALT_BYTES} bytes, got {len(salt)}")
    if not 1 <= len(payload) <= MAX_REVEALED:
        raise ValueError(
            f"a revealed payload has 1 to {MAX_REVEALED} bytes (a reveal adds "
            f"{REVEAL_FIXED_BYTES} to fit {MAX_PAYLOAD}), got {len(payload)}"
        )
    return bytes(payload), bytes(salt)


def make_hash_commitment(payload: bytes, salt: bytes, hotkey: str) -> bytes:
    """``hotkey``'s hash commitment of ``payload`` with ``salt``; ``ValueError`` if its
    reveal would not fit a commitment or the salt is not 16 bytes."""
    payload, salt = _check(payload, salt)
    if not isinstance(hotkey, str) or not 1 <= len(hotkey.encode()) < 2**16:
        raise ValueError(f"a hotkey is a non-empty string, got {hotkey!r}")
    return HASH_MAGIC + bytes([VERSION]) + _digest(payload, salt, hotkey)


def make_reveal(payload: bytes, salt: bytes, hash_block: int) -> bytes:
    """The reveal of ``payload`` with ``salt`` (checked as ``make_hash_commitment``), whose
    hash the chain holds at ``hash_block``."""
    payload, salt = _check(payload, salt)
    if isinstance(hash_block, bool) or not isinstance(hash_block, int):
        raise ValueError(f"hash_block must be an integer, got {hash_block!r}")
    if not 0 <= hash_block < 2 ** (8 * BLOCK_BYTES):
        raise ValueError(f"hash_block must fit {BLOCK_BYTES} bytes, got {hash_block}")
    return (
        REVEAL_MAGIC + bytes([VERSION]) + hash_block.to_bytes(BLOCK_BYTES, "big") + salt + payload
    )


def parse(data: bytes) -> HashCommit | Reveal | Rejected:
    """The hash commitment or reveal in ``data``, or why it is neither; never raises.

    Example:
      >>> parse(b"HJH\\x03" + bytes(31))
      Rejected(reason='bad_length', detail='a hash commitment has 36 bytes, got 35')
      >>> r = parse(make_reveal(b"x", bytes(16), 7))
      >>> r.hash_block, r.payload
      (7, b'x')
    """
    data = envelope(data)
    if isinstance(data, Rejected):
        return data
    magic = data[: len(HASH_MAGIC)]
    if magic not in (HASH_MAGIC, REVEAL_MAGIC):
        return Rejected("bad_magic", f"expected {HASH_MAGIC!r} or {REVEAL_MAGIC!r}, got {magic!r}")
    fixed = REVEAL_FIXED_BYTES + 1 if magic == REVEAL_MAGIC else HEADER_BYTES
    if len(data) < fixed:
        return Rejected("truncated", f"{len(data)} bytes, at least {fixed}")
    if data[len(HASH_MAGIC)] != VERSION:
        return Rejected("bad_version", f"version {data[3]}, this hivejax reads {VERSION}")
    if magic == HASH_MAGIC:
        if len(data) != HASH_COMMIT_BYTES:
            return Rejected(
                "bad_length", f"a hash commitment has {HASH_COMMIT_BYTES} bytes, got {len(data)}"
            )
        return HashCommit(data[HEADER_BYTES:])
    salt_at = HEADER_BYTES + BLOCK_BYTES
    return Reveal(
        int.from_bytes(data[HEADER_BYTES:salt_at], "big"),
        data[salt_at : salt_at + SALT_BYTES],
        data[REVEAL_FIXED_BYTES:],
    )


def observe(
    ledger: Ledger,
    hotkey: str,
    block: int,
    data: bytes,
    history: Callable[[str, int], Commitment | None] | None = None,
) -> HashCommit | Accepted | Rejected:
    """What a validator makes of ``hotkey``'s commitment ``data``, written at ``block``.

    A hash commitment is recorded in ``ledger`` and returned; a reveal is ``Accepted`` with
    the block of its hash if ``hotkey`` committed that hash before ``block``, at most
    ``REVEAL_WINDOW`` blocks before; anything else is ``Rejected``. A hash the ledger does
    not hold at the block the reveal names is looked up in ``history`` (the chain's
    ``commitment_at``), and recorded when found there. Never raises on the bytes (the
    ledger's and the history's own errors still propagate).
    """
    parsed = parse(data)
    if isinstance(parsed, Rejected):
        return parsed
    if isinstance(parsed, HashCommit):
        ledger.record_hash(hotkey, parsed.digest.hex(), block)
        return parsed
    digest = parsed.digest_for(hotkey)
    hash_block = ledger.hash_block(hotkey, digest.hex())
    named = parsed.hash_block
    if (hash_block is None or hash_block > named) and named < block and history is not None:
        held = history(hotkey, named)
        if held is not None and held.block == named and parse(held.payload) == HashCommit(digest):
            ledger.record_hash(hotkey, digest.hex(), named)
            hash_block = named
    if hash_block is None:
        return Rejected(
            "unknown_hash", f"{hotkey} committed no hash {digest.hex()[:8]}... at block {named}"
        )
    if hash_block >= block:
        return Rejected(
            "not_earlier", f"the hash was first seen at block {hash_block}, the reveal at {block}"
        )
    if block - hash_block > REVEAL_WINDOW:
        return Rejected(
            "expired",
            f"the hash was seen at block {hash_block}, the reveal at {block}: more than "
            f"{REVEAL_WINDOW} blocks later",
        )
    return Accepted(parsed.payload, hash_block)
