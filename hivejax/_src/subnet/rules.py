"""The chain's rules in one place: sizes, quotas, rate limits and weight normalisation.

Every ``Chain`` enforces the same rules through these constants and pure functions, so the
in-memory chain of the tests, the local SQLite chain and an adapter to the real network
refuse the same calls with the same ``ErrorCode``. The numbers are those of subtensor's
commitments and weights pallets as used by subnet 49; two are simplified, and say so:

- the quota resets at every multiple of ``TEMPO`` blocks (subtensor shifts each subnet's
  epoch boundary by its netuid);
- a validator's first ``set_weights`` is never rate limited.

Example:
  >>> [len(f) for f in split_fields(bytes(300))]
  [128, 128, 44]
  >>> commit_cost(b"tiny"), commit_cost(bytes(300))
  (100, 300)
  >>> normalize_weights({0: 0.5, 3: 1.0, 7: 0.0})
  {0: 32768, 3: 65535}
"""

import enum
import math
import numbers

MAX_FIELD_BYTES = 128
"""Bytes in one raw commitment field."""
MAX_FIELDS = 3
"""Raw fields in one commitment."""
MAX_PAYLOAD = MAX_FIELD_BYTES * MAX_FIELDS
"""A payload is 1 to 384 bytes: what ``MAX_FIELDS`` full fields hold."""

QUOTA_BYTES_PER_TEMPO = 3100
"""Bytes a hotkey may commit within one tempo, each commit charged ``commit_cost``."""
MIN_COMMIT_COST = 100
"""What even a tiny commit is charged, so a hotkey cannot commit without limit."""

TEMPO = 360
"""Blocks in one tempo: the period of the quota and of consensus."""
WEIGHTS_RATE_LIMIT = 100
"""Blocks a validator must wait between two ``set_weights``."""

U16_MAX = 65535
"""The largest weight on chain: weights are stored as u16."""


class ErrorCode(enum.Enum):
    """Why a chain refused a call; callers branch on the code, not on the message."""

    NOT_REGISTERED = "not_registered"
    NO_VALIDATOR_PERMIT = "no_validator_permit"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXCEEDED = "quota_exceeded"
    BAD_PAYLOAD = "bad_payload"
    BAD_WEIGHTS = "bad_weights"
    # A network chain failed or refused a call for a reason the codes above do not name
    # (connection lost, subnet missing, version key too old, ...); the message has the SDK's.
    NETWORK = "network"


class ChainError(Exception):
    """The chain refused a call; ``code`` is the ``ErrorCode``, the message the numbers.

    Example:
      >>> try:
      ...     split_fields(b"")
      ... except ChainError as e:
      ...     print(e.code.name, "-", e)
      BAD_PAYLOAD - a payload needs 1 to 384 bytes, got 0
    """

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code


def check_payload(payload: bytes) -> bytes:
    """``payload`` as ``bytes``; ``ChainError(BAD_PAYLOAD)`` unless it has 1 to 384 bytes."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise ChainError(ErrorCode.BAD_PAYLOAD, f"a payload is bytes, got {type(payload).__name__}")
    payload = bytes(payload)
    if not 1 <= len(payload) <= MAX_PAYLOAD:
        raise ChainError(
            ErrorCode.BAD_PAYLOAD, f"a payload needs 1 to {MAX_PAYLOAD} bytes, got {len(payload)}"
        )
    return payload


def split_fields(payload: bytes) -> list[bytes]:
    """The raw fields that carry ``payload`` on chain: chunks of at most 128 bytes."""
    payload = check_payload(payload)
    return [payload[i : i + MAX_FIELD_BYTES] for i in range(0, len(payload), MAX_FIELD_BYTES)]


def join_fields(fields) -> bytes:
    """The payload that ``fields`` carry; ``ChainError(BAD_PAYLOAD)`` unless they could be
    ``split_fields`` output (1 to 3 fields of 1 to 128 bytes)."""
    fields = [bytes(f) for f in fields]
    if not 1 <= len(fields) <= MAX_FIELDS:
        raise ChainError(
            ErrorCode.BAD_PAYLOAD, f"a commitment has 1 to {MAX_FIELDS} fields, got {len(fields)}"
        )
    for i, field in enumerate(fields):
        if not 1 <= len(field) <= MAX_FIELD_BYTES:
            raise ChainError(
                ErrorCode.BAD_PAYLOAD,
                f"field {i} needs 1 to {MAX_FIELD_BYTES} bytes, got {len(field)}",
            )
    return b"".join(fields)


def commit_cost(payload: bytes) -> int:
    """Bytes of quota one commit of ``payload`` uses: its size, at least ``MIN_COMMIT_COST``."""
    return max(MIN_COMMIT_COST, len(payload))


def tempo_index(block: int) -> int:
    """The tempo that ``block`` falls in (tempo ``t`` is blocks ``t*TEMPO .. (t+1)*TEMPO-1``)."""
    return block // TEMPO


def charge_quota(usage: tuple[int, int] | None, block: int, payload: bytes) -> tuple[int, int]:
    """A hotkey's quota usage ``(tempo, bytes used)`` after committing ``payload`` at ``block``.

    ``usage`` is the hotkey's usage before (``None`` if it never committed); usage from an
    earlier tempo counts as nothing. Raises ``ChainError(QUOTA_EXCEEDED)`` when the commit
    would take the tempo's total above ``QUOTA_BYTES_PER_TEMPO``.
    """
    tempo = tempo_index(block)
    used = usage[1] if usage is not None and usage[0] == tempo else 0
    cost = commit_cost(payload)
    if used + cost > QUOTA_BYTES_PER_TEMPO:
        raise ChainError(
            ErrorCode.QUOTA_EXCEEDED,
            f"a commit of {cost} bytes would use {used + cost} of the "
            f"{QUOTA_BYTES_PER_TEMPO} bytes allowed in tempo {tempo}",
        )
    return tempo, used + cost


def check_weights_rate(last_update: int | None, block: int) -> None:
    """Raise ``ChainError(RATE_LIMITED)`` unless a validator whose last ``set_weights`` was at
    ``last_update`` (``None``: never) may set weights at ``block``."""
    if last_update is not None and block - last_update < WEIGHTS_RATE_LIMIT:
        raise ChainError(
            ErrorCode.RATE_LIMITED,
            f"weights were set at block {last_update}; the next set is allowed from block "
            f"{last_update + WEIGHTS_RATE_LIMIT}, now is {block}",
        )


def normalize_weights(weights: dict[int, float]) -> dict[int, int]:
    """Weights as the chain stores them: u16 integers scaled so the largest is 65535.

    The rule is bittensor's (``convert_weights_and_uids_for_emit``): each weight is divided
    by the largest, multiplied by 65535 and rounded to the nearest integer (Python's
    ``round``, ties to even); weights that round to 0 are dropped, so all-zero weights give
    ``{}``. Only the ratios matter: the chain and consensus never see the raw scale.
    Raises ``ChainError(BAD_WEIGHTS)`` for a uid that is not a non-negative integer or a
    weight that is not a finite number >= 0 (numpy scalars are accepted).
    """
    if not isinstance(weights, dict):
        raise ChainError(ErrorCode.BAD_WEIGHTS, f"weights are a dict, got {type(weights).__name__}")
    for uid, w in weights.items():
        if isinstance(uid, bool) or not isinstance(uid, numbers.Integral) or uid < 0:
            raise ChainError(ErrorCode.BAD_WEIGHTS, f"uid {uid!r} is not a non-negative integer")
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w) or w < 0:
            raise ChainError(
                ErrorCode.BAD_WEIGHTS, f"weight {w!r} of uid {uid} is not finite and >= 0"
            )
    top = max(weights.values(), default=0)
    if top == 0:
        return {}
    scaled = {int(u): round(float(w) / float(top) * U16_MAX) for u, w in sorted(weights.items())}
    return {uid: w for uid, w in scaled.items() if w > 0}
