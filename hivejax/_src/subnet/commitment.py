"""The on-chain commitment: which program a miner submits, for which task and protocol.

A miner's commitment is small (``rules.MAX_PAYLOAD``, 384 bytes in three 128-byte fields)
and read by every validator, so it is binary, versioned and decoded as hostile input:
``decode`` never raises, it returns ``Decoded`` or ``Rejected`` with a reason code, so one
bad payload cannot stop a validator. Programs are committed in canonical form
(``canonical.canonicalize``), so equivalent programs commit the same bytes.

Layout, version 1 (all integers uint8)::

    magic     3 bytes   b"HJC"
    version   1         1
    task      1         index into TASK_CODES: 0 loss, 1 activation, 2 optimizer
    protocol  6         the protocol version's 12 hex digits, as raw bytes
    program   rest      formats.to_bytes of the canonical program (its spec included)

Byte budget: the header is 11 bytes; a program of a task's default spec takes
``formats.to_bytes``'s fixed part plus 4 bytes per instruction (30 + 4 * length for the
loss and activation specs, 48 + 4 * length for the optimizer spec)::

    builtin:cross_entropy (5 instructions)                  61 bytes
    builtin:adam (17 instructions)                         127 bytes
    largest loss program (16 instructions)                 105 bytes
    largest activation program (16 instructions)           105 bytes
    largest optimizer program (24 instructions)            155 bytes
    loss-spec instructions that fit one 128-byte field      21
    loss-spec instructions that fit 384 bytes               85

So every loss and activation program of the default specs fits one field with 23 bytes to
spare, a loss spec could grow to 21 instructions before a commitment needs a second field,
and only optimizer programs longer than 17 instructions need two.

Example:
  >>> from hivejax._src.tasks.registry import builtin, builtin_spec
  >>> spec = builtin_spec("cross_entropy")
  >>> payload = encode("loss", "0123456789ab", spec, builtin("cross_entropy"))
  >>> payload[:5], len(payload)
  (b'HJC\\x01\\x00', 61)
  >>> decode(payload).protocol_version
  '0123456789ab'
  >>> decode(b"HJX" + payload[3:])
  Rejected(reason='bad_magic', detail="expected b'HJC', got b'HJX'")
"""

import dataclasses
import re

from hivejax._src.program.canonical import canonicalize
from hivejax._src.program.formats import from_bytes, to_bytes
from hivejax._src.program.program import Program, ProgramSpec
from hivejax._src.subnet.rules import MAX_PAYLOAD
from hivejax._src.tasks.registry import make_task

MAGIC = b"HJC"
VERSION = 1
TASK_CODES = ("loss", "activation", "optimizer")  # a code is a position here: new tasks go last
HEADER_BYTES = len(MAGIC) + 1 + 1 + 6

REASONS = (
    "not_bytes",  # the payload is not a bytes-like object
    "empty",
    "too_large",  # more than rules.MAX_PAYLOAD bytes
    "bad_magic",
    "truncated",  # the magic, then less than a header
    "bad_version",
    "unknown_task",
    "bad_program",  # formats.from_bytes refused the program bytes
    "wrong_shape",  # a valid program whose spec is not the task's shape
    "wrong_task",  # decode_for: a commitment for another task
    "wrong_protocol",  # decode_for: scored under another protocol version
    "wrong_spec",  # decode_for: the task's shape, but not the spec the neuron evaluates
)
"""Every reason ``decode`` and then ``decode_for`` may give, in the order they check them."""

_PROTOCOL_VERSION = re.compile(r"[0-9a-f]{12}")


@dataclasses.dataclass(frozen=True, eq=False)
class Decoded:
    """A well-formed commitment. ``program`` is what the payload holds: a program fitting
    ``task`` (hash it with ``canonical_hash``, which does not trust its form)."""

    task: str
    protocol_version: str
    spec: ProgramSpec
    program: Program


@dataclasses.dataclass(frozen=True)
class Rejected:
    """A payload that is no commitment of this format: ``reason`` is one of ``REASONS``,
    ``detail`` says what was wrong, for logs."""

    reason: str
    detail: str = ""


def _check_shape(task: str, spec: ProgramSpec) -> None:
    make_task(task, spec=spec)  # ValueError when the spec does not fit the task


def encode(task: str, protocol_version: str, spec: ProgramSpec, program: Program) -> bytes:
    """The commitment of ``program`` (canonicalised first) for ``task`` under the protocol
    of version ``protocol_version`` (12 lowercase hex digits).

    Raises ``ValueError`` for an unknown task, a malformed version, a spec that does not
    fit the task, or a payload over ``rules.MAX_PAYLOAD`` bytes.
    """
    if task not in TASK_CODES:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASK_CODES)}")
    if not isinstance(protocol_version, str) or not _PROTOCOL_VERSION.fullmatch(protocol_version):
        raise ValueError(f"a protocol version is 12 lowercase hex digits, got {protocol_version!r}")
    _check_shape(task, spec)
    header = MAGIC + bytes([VERSION, TASK_CODES.index(task)]) + bytes.fromhex(protocol_version)
    payload = header + to_bytes(spec, canonicalize(spec, program))
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(
            f"the commitment takes {len(payload)} bytes, more than the {MAX_PAYLOAD} a chain "
            f"commitment holds; shorten the program or its spec"
        )
    return payload


def envelope(payload) -> bytes | Rejected:
    """``payload`` as bytes if any commitment could hold it (1 to ``MAX_PAYLOAD`` bytes),
    else why not: the first check of every decoder of chain payloads."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        return Rejected("not_bytes", type(payload).__name__)
    payload = bytes(payload)
    if not payload:
        return Rejected("empty")
    if len(payload) > MAX_PAYLOAD:
        return Rejected("too_large", f"{len(payload)} bytes, at most {MAX_PAYLOAD}")
    return payload


def decode(payload: bytes) -> Decoded | Rejected:
    """The commitment in ``payload``, or why it is none; never raises.

    Example:
      >>> decode(b"")
      Rejected(reason='empty', detail='')
      >>> decode(b"HJC\\x01").reason
      'truncated'
    """
    payload = envelope(payload)
    if isinstance(payload, Rejected):
        return payload
    if payload[: len(MAGIC)] != MAGIC:
        return Rejected("bad_magic", f"expected {MAGIC!r}, got {payload[: len(MAGIC)]!r}")
    if len(payload) < HEADER_BYTES:
        return Rejected("truncated", f"{len(payload)} bytes, a header is {HEADER_BYTES}")
    version, code = payload[3], payload[4]
    if version != VERSION:
        return Rejected("bad_version", f"version {version}, this hivejax reads {VERSION}")
    if code >= len(TASK_CODES):
        return Rejected("unknown_task", f"task code {code}, known 0..{len(TASK_CODES) - 1}")
    task, protocol_version = TASK_CODES[code], payload[5:HEADER_BYTES].hex()
    try:
        spec, program = from_bytes(payload[HEADER_BYTES:])
    except Exception as e:  # hostile bytes must never stop a validator, whatever they break
        return Rejected("bad_program", f"{type(e).__name__}: {e}")
    try:
        _check_shape(task, spec)
    except ValueError as e:
        return Rejected("wrong_shape", str(e))
    return Decoded(task, protocol_version, spec, program)


def decode_for(payload: bytes, task: str, protocol_version: str, spec: ProgramSpec):
    """``decode``, then what a neuron scoring ``task`` under one protocol needs: the
    commitment's task, protocol version and spec must be these (a validator evaluates one
    population of one spec). Returns ``Decoded`` or ``Rejected``; never raises.

    Example:
      >>> from hivejax._src.tasks.registry import builtin, builtin_spec
      >>> spec = builtin_spec("cross_entropy")
      >>> payload = encode("loss", "0123456789ab", spec, builtin("cross_entropy"))
      >>> decode_for(payload, "loss", "ba9876543210", spec).reason
      'wrong_protocol'
    """
    decoded = decode(payload)
    if isinstance(decoded, Rejected):
        return decoded
    if decoded.task != task:
        return Rejected("wrong_task", f"a {decoded.task} program, this neuron scores {task}")
    if decoded.protocol_version != protocol_version:
        return Rejected(
            "wrong_protocol",
            f"protocol {decoded.protocol_version}, this neuron scores under {protocol_version}",
        )
    if decoded.spec != spec:
        return Rejected("wrong_spec", f"spec {decoded.spec}, this neuron evaluates {spec}")
    return decoded
