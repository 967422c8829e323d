"""From each miner's paired results to the validator's weights: pure, and the same everywhere.

Input: one ``Candidate`` per miner, with the per-seed paired improvements (program minus
baseline accuracy, ``evaluation.improvement``) of the validator protocol, its program's
fingerprint and its priority block (the ledger's first sighting). Output: a weight per uid,
summing to 1, or all 0.

The rules, in order:

1. **Nothing for a broken program** (its training went non-finite on any seed), for a
   program without a fingerprint (``"non_finite"`` or ``"constant"`` on the probe: the
   original subnet gave such losses 0.2), or for non-finite improvements.
2. **Copies earn nothing**: of the candidates that share a fingerprint only the owner may
   earn, the hotkey ``owners`` names (the validator's ledger) or, without it, the earliest
   (priority block, then hotkey string).
3. **Only a gain earns**: the one-sided lower confidence bound on the mean improvement
   (``evaluation.summarize``) must be at least half a quantum above 0 (``cell(lb) >= 1``).
4. **Only new gains earn.** Candidates are taken in priority order (block, then hotkey),
   and each must beat *every earlier earner* in a paired comparison on the same seeds: its
   quantised mean at least ``MARGIN`` higher than each earlier earner's when its block is
   later, higher at all when it is the same block. One that does not (``"no_new_gain"``)
   earns nothing at any rank, so a copy that escaped the fingerprint, or a program tuned to
   be a hair better or worse than a leader, is paid nothing: it adds no gain. The earners
   are therefore record holders, each better than all before it.
5. **Weights decay over the record holders**, newest (best) first: record ``r`` (0 the
   current record) gets ``DECAY ** r``, normalised to sum to 1. The current record holder
   takes about half, and each earlier record keeps a share that halves with every later
   record: an innovation keeps paying a while after it is beaten, so publishing a gain
   early is worth more than holding it back, and no share is left for near-copies to
   claim. (Subnet 9 gives everything to one winner, with an advantage for earlier models
   that decays from 0.005 to 0.0001; a single winner makes a beaten leader's earnings
   stop at once, and both rules pay nothing for a tie.) When nobody earns, every weight is
   0 (nothing is divided): nobody is paid for not beating the baseline, and the validator
   sends its weight to the burn uid instead (``validator.py``).

**Why the grid.** Two validators train the same programs on the same seeds, but XLA emits
other code on other processors, and a per-seed accuracy can move by a few test images (one
seed's search already ends in different programs on two x86-64 machines). The validator
protocol's smallest test sets are digits (397 test images: one image is 0.0025 accuracy) and
mnist1d (1000: 0.001). Two images more or less on the program's and on the baseline's
accuracy move one paired improvement by at most four images, 0.0101 on digits and 0.004 on
mnist1d, and the protocol's mean (8 digits and 8 mnist1d runs) by at most 0.0070 when every
run shifts the same way, by about 0.001 (one standard deviation) when the shifts are
independent. Decisions are therefore taken on means and bounds rounded to cells of
``QUANTUM`` = 0.005 (two digits images per run), five times the typical shift: candidates
whose means differ by a few images fall into one cell or neighbouring ones, and a tie is
settled by priority, which every validator agrees on. The margin is two cells
(``MARGIN`` = 0.01), so a later program must lead by more than any typical shift of a
difference of two means. Per-seed improvements are not rounded: a rounded seed still flips
at a cell edge, and 16 such flips add noise to the mean instead of removing it.

No rounding makes every decision agree: a value within the noise of a cell edge can round
either way on two validators. What holds on every validator, even under the worst case
shift: a later program beats an earlier one when its true lead is at least
``MARGIN + 2 * 0.0070`` (0.024), and never when it trails by more than
``2 * 0.0070 - QUANTUM`` (0.009). So a true tie can earn only on a validator whose every
run shifted the worst way; under the typical independent shifts (about 0.001) a tie stays
two cells short of the margin. A lower bound of at least 0.013 earns and one below
-0.008 never does (a bound moves by at most 0.0105: 0.0070 with the mean, 0.0035 with its
spread term). The tests check that the weights hold under random shifts of up to two images
on every accuracy, for candidates whose means differ by more than the margin.

Example:
  >>> a = Candidate("alice", 1, "f1", 100, (0.03, 0.04, 0.05, 0.04))
  >>> b = Candidate("bob", 2, "f2", 200, (0.04, 0.05, 0.05, 0.04))  # later, not 0.01 better
  >>> c = Candidate("carol", 3, "f1", 300, (0.03, 0.04, 0.05, 0.04))  # a copy of alice
  >>> d = Candidate("dan", 4, "f4", 400, (0.06, 0.05, 0.06, 0.05))  # beats both by 0.01
  >>> s = score([a, b, c, d])
  >>> s.ranking, s.weights
  (('dan', 'alice'), {1: 0.3333333333333333, 2: 0.0, 3: 0.0, 4: 0.6666666666666666})
  >>> s.reasons
  {'bob': 'no_new_gain', 'carol': 'copy'}
"""

import dataclasses
import math

import numpy as np

from hivejax._src.evaluation.scores import summarize

QUANTUM = 0.005
"""Width of the cells means and bounds are rounded to (module docstring: why)."""
MARGIN_CELLS = 2
"""Cells by which a later program's mean must exceed an earlier one's to rank above it."""
MARGIN = MARGIN_CELLS * QUANTUM
"""``MARGIN_CELLS`` in accuracy: 0.01."""
DECAY = 0.5
"""Record ``r`` (0 the current one) earns ``DECAY ** r`` before normalisation: the current
record holder gets about half."""
CONFIDENCE = 0.95
"""Level of the one-sided lower bound a gain must clear."""


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One miner's program as the validator evaluated it.

    Attributes:
      hotkey, uid: the miner.
      fingerprint: ``fingerprint.Fingerprint.fingerprint``; ``None`` when flagged.
      priority_block: the first block the ledger saw this hotkey with this fingerprint.
      improvements: per-seed paired improvements over every cell of the protocol.
      broken: whether its training went non-finite on any seed.
      reason: the fingerprint's reason when ``fingerprint`` is ``None``.
    """

    hotkey: str
    uid: int
    fingerprint: str | None
    priority_block: int
    improvements: tuple[float, ...]
    broken: bool = False
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class Scores:
    """``weights`` for every candidate's uid (sum 1, or all 0); ``ranking`` the earners'
    hotkeys, best first; ``reasons`` why each other hotkey earns nothing."""

    weights: dict[int, float]
    ranking: tuple[str, ...]
    reasons: dict[str, str]


def cell(x: float) -> int:
    """The grid cell of ``x``: ``x / QUANTUM`` rounded, halves up (the same on every machine).

    Example:
      >>> cell(0.0124), cell(0.0125), cell(-0.001)
      (2, 3, 0)
    """
    return math.floor(x / QUANTUM + 0.5)


def _check(candidates) -> list[Candidate]:
    candidates = list(candidates)
    for field in ("hotkey", "uid"):
        values = [getattr(c, field) for c in candidates]
        if len(set(values)) != len(values):
            raise ValueError(f"candidates must have distinct {field}s, got {sorted(values)}")
    return sorted(candidates, key=lambda c: (c.priority_block, c.hotkey))


def _disqualified(c: Candidate, owner: str | None) -> str | None:
    """Why ``c`` earns nothing before its statistics are looked at, or ``None``."""
    if c.broken:
        return "broken"
    if c.fingerprint is None:
        return c.reason or "no_fingerprint"
    if not np.all(np.isfinite(np.asarray(c.improvements, np.float64))):
        return "non_finite"
    if owner != c.hotkey:
        return "copy"
    return None


def _beats(new: Candidate, new_mean: int, old: Candidate, old_mean: int) -> bool:
    if len(new.improvements) != len(old.improvements):
        raise ValueError(
            f"{new.hotkey} and {old.hotkey} were not scored on the same seeds "
            f"({len(new.improvements)} and {len(old.improvements)} improvements)"
        )
    if new.priority_block > old.priority_block:
        return new_mean >= old_mean + MARGIN_CELLS
    return new_mean > old_mean


def score(candidates, owners: dict[str, str] | None = None) -> Scores:
    """The weights of ``candidates`` under the rules of the module docstring.

    Args:
      candidates: ``Candidate`` s with distinct hotkeys and uids, in any order, every one
        scored on the same seeds (the improvements pair up by position).
      owners: fingerprint -> owning hotkey, from the ledger; a fingerprint missing from it
        (or ``owners`` None) is owned by its earliest candidate.

    Raises ``ValueError`` for repeated hotkeys or uids, or two earners whose improvements
    cannot pair (not as many).
    """
    ordered = _check(candidates)
    first = {}
    for c in ordered:
        first.setdefault(c.fingerprint, c.hotkey)
    owners = {**first, **(owners or {})}
    reasons, records = {}, []  # records: (candidate, quantised mean), in priority order
    for c in ordered:
        reason = _disqualified(c, owners.get(c.fingerprint))
        if reason is None:
            stats = summarize(c.improvements, CONFIDENCE)
            if stats["lower_bound"] is None:
                reason = "no_bound"
            elif cell(stats["lower_bound"]) < 1:
                reason = "no_gain"
            elif not all(_beats(c, cell(stats["mean"]), r, m) for r, m in records):
                reason = "no_new_gain"
        if reason is not None:
            reasons[c.hotkey] = reason
            continue
        records.append((c, cell(stats["mean"])))
    ranked = records[::-1]
    raw = [DECAY**r for r in range(len(ranked))]
    total = sum(raw)
    weights = {c.uid: 0.0 for c in ordered}
    for (c, _), w in zip(ranked, raw, strict=True):
        weights[c.uid] = w / total
    return Scores(
        weights=dict(sorted(weights.items())),
        ranking=tuple(c.hotkey for c, _ in ranked),
        reasons=reasons,
    )
