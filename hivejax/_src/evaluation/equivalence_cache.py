"""A functional-equivalence cache: programs that behave alike are trained once.

Most children of a converging population compute what their parents did: dead code,
renamed registers, ``loss + c``, ``2 * loss``. Their fingerprint (``fingerprint.py``: the
output and input gradient on a fixed probe, normalised and rounded; for losses the
gradient with respect to the logits) is the same, so under one run's protocol and key
their fitness is the same too, and training them again buys nothing. As in AutoML-Zero's
FEC, the cache maps a fingerprint to the fitness it was given, and:

- it is bounded: beyond ``capacity`` entries the least recently used one goes;
- after ``max_hits`` hits an entry is dropped, so the next program with that fingerprint
  is trained again and stored afresh. Two programs that agree on the probe but differ
  elsewhere then get their own training from time to time instead of sharing one result
  for the whole run.

The cache is host-side Python (an ``OrderedDict``): a generation's jitted step returns the
fingerprints, the host decides what trains, and every process of a multi-process run
holds the same cache because it sees the same values. ``state``/``from_state`` carry it
through checkpoints, so a resumed run makes the same decisions.

Example:
  >>> cache = EquivalenceCache(capacity=2, max_hits=1)
  >>> cache.put("a", -0.5); cache.get("a"), cache.get("a")  # the second hit passes the limit
  (-0.5, None)
"""

import collections
import math


class EquivalenceCache:
    """Fitness by fingerprint, least recently used first out (module docstring)."""

    def __init__(self, capacity: int, max_hits: int):
        if capacity < 1 or max_hits < 1:
            raise ValueError(f"need capacity >= 1 and max_hits >= 1, got {capacity}, {max_hits}")
        self.capacity, self.max_hits = capacity, max_hits
        self._entries: collections.OrderedDict[str, list] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, fingerprint: str) -> float | None:
        """The cached fitness, or None: unknown, or just past ``max_hits`` (then dropped)."""
        entry = self._entries.get(fingerprint)
        if entry is None:
            return None
        entry[1] += 1
        if entry[1] > self.max_hits:
            del self._entries[fingerprint]
            return None
        self._entries.move_to_end(fingerprint)
        return entry[0]

    def put(self, fingerprint: str, fitness: float) -> None:
        """Store (or refresh) ``fitness``, with no hits yet; evict beyond ``capacity``."""
        self._entries[fingerprint] = [float(fitness), 0]
        self._entries.move_to_end(fingerprint)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def state(self) -> list:
        """JSON-able entries ``[fingerprint, fitness or None for inf, hits]``, oldest first."""
        return [[k, f if math.isfinite(f) else None, h] for k, (f, h) in self._entries.items()]

    @classmethod
    def from_state(cls, capacity: int, max_hits: int, entries: list) -> "EquivalenceCache":
        """The cache ``state`` describes."""
        cache = cls(capacity, max_hits)
        for key, fitness, hits in entries:
            cache._entries[key] = [math.inf if fitness is None else float(fitness), int(hits)]
        return cache
