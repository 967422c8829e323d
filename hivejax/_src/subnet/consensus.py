"""A simplified Yuma consensus: how the validators' weights become the miners' shares.

Validators weigh miners independently; consensus decides how much each weight counts, so
that one validator (or a few holding little stake) cannot pay its own favourite. The rule,
for validators ``i`` with stake ``s_i`` and miners ``j``:

1. each validator's weights are normalised to sum to 1; a validator that set none, or all
   zero, abstains: it weighs every miner 0, and its stake still counts;
2. the consensus weight ``c_j`` of a miner is the stake-weighted median of the validators'
   weights on it: the largest value ``w`` among them such that validators holding more
   than half the stake gave the miner ``w`` or more (a validator that did not weigh the
   miner gave it 0), so two validators of equal stake must both reach it;
3. each weight is clipped to the consensus, ``min(W_ij, c_j)``, so weight above what half
   the stake agrees on counts for nothing;
4. a miner's rank is the stake-weighted sum of its clipped weights, and its share is its
   rank over the sum of all ranks (all shares are 0 when every rank is 0).

Stakes are taken relative to every validator, abstaining ones included, so a validator
holding 1% of the stake cannot decide a tempo alone while the other 99% set nothing (in
that case nobody is paid). If the validators hold no stake at all (a local subnet whose
validators registered without stake), each counts equally, so a local subnet still pays
its miners. Subtensor's Yuma adds bonds, dividends, a consensus
sharpened by a sigmoid and a liquid alpha; none of them changes who wins a tempo here.

Example:
  >>> yuma({0: {5: 1.0, 6: 1.0}, 1: {5: 1.0}}, {0: 1.0, 1: 1.0})
  {5: 1.0, 6: 0.0}
  >>> yuma({0: {5: 1.0}}, {0: 1.0, 1: 99.0})  # validator 1 abstains
  {5: 0.0}
"""

import math

import numpy as np

KAPPA = 0.5
"""A weight counts only as far as validators holding more than this fraction of stake reach it."""
# Relative slack on the stake comparison, so that an exact half never passes by rounding.
_SLACK = 1e-9


def _check(weights: dict, stake: dict) -> None:
    for v, row in weights.items():
        if v not in stake:
            raise ValueError(f"validator {v} has weights but no stake entry")
        if not math.isfinite(stake[v]) or stake[v] < 0:
            raise ValueError(f"stake of validator {v} is {stake[v]!r}, not finite and >= 0")
        for m, w in row.items():
            if not math.isfinite(w) or w < 0:
                raise ValueError(f"weight {w!r} of validator {v} on miner {m} is not finite >= 0")


def weighted_median(values: np.ndarray, stake: np.ndarray, kappa: float = KAPPA) -> float:
    """The largest of ``values`` that validators holding more than ``kappa`` of the total
    ``stake`` reach or exceed (0 when the stake is all zero or there are no values).

    Example:
      >>> weighted_median(np.array([0.0, 0.5, 1.0]), np.array([0.4, 0.4, 0.2]))
      0.5
    """
    total = float(stake.sum())
    if total <= 0:
        return 0.0
    order = np.argsort(-values, kind="stable")
    support = np.cumsum(stake[order])  # stake at or above each value, largest value first
    reached = np.flatnonzero(support > kappa * total * (1 + _SLACK))
    return float(values[order][reached[0]]) if reached.size else 0.0


def yuma(weights: dict[int, dict[int, float]], stake: dict[int, float]) -> dict[int, float]:
    """Each miner's share of the emission under the rule of the module docstring.

    Args:
      weights: validator uid -> (miner uid -> weight >= 0); any scale, rows are normalised.
      stake: validator uid -> stake >= 0, for every validator: those missing from
        ``weights`` abstain, and their stake counts. Must hold every validator in ``weights``.

    Returns:
      miner uid -> share, for every miner some validator weighs (including with 0), in uid
      order; the shares sum to 1, or are all 0 when no miner has the support of more than
      half the stake.
    """
    _check(weights, stake)
    miners = sorted({m for row in weights.values() for m in row})
    if not any(sum(row.values()) > 0 for row in weights.values()):
        return {m: 0.0 for m in miners}
    validators = sorted(stake)
    w = np.array([[weights.get(v, {}).get(m, 0.0) for m in miners] for v in validators], float)
    sums = w.sum(axis=1, keepdims=True)
    w = np.divide(w, sums, out=np.zeros_like(w), where=sums > 0)
    s = np.array([stake[v] for v in validators], np.float64)
    if s.sum() <= 0:
        s = np.ones_like(s)
    s /= s.sum()
    consensus = np.array([weighted_median(w[:, j], s) for j in range(len(miners))])
    ranks = s @ np.minimum(w, consensus)
    total = ranks.sum()
    shares = ranks / total if total > 0 else np.zeros_like(ranks)
    return {m: float(x) for m, x in zip(miners, shares, strict=True)}
