"""``RuledChain``: a ``Chain`` that enforces the chain's rules itself, over storage.

The public methods are template methods: they check the rules of ``rules`` and call
storage primitives (the methods starting with ``_``), so an implementation only stores and
fetches rows, inside the transactions it provides, and the in-memory chain and the SQLite
chain shared by processes cannot drift apart in what they accept.

Every public method runs in one ``_transaction``: its checks and its writes see one state,
so two processes racing on one file cannot both pass a quota check that only one fits.
Checks come before writes, so a refused call writes nothing.
"""

import abc
import contextlib
import hashlib
import math
from typing import Any

from hivejax._src.subnet import consensus, rules
from hivejax._src.subnet.chain import Chain, Commitment, Metagraph, Neuron
from hivejax._src.subnet.rules import ChainError, ErrorCode


class RuledChain(Chain):
    """A chain whose public methods enforce the rules; subclasses store the state.

    Subclasses implement the storage primitives (the methods starting with ``_``); each
    takes the handle that ``_transaction`` yields, and none checks a rule.
    """

    # --- the interface ---

    @property
    def tempo(self) -> int:
        """Blocks in one tempo: the period of the commit quota and of consensus."""
        return rules.TEMPO

    def block(self) -> int:
        """The current block number."""
        with self._transaction(write=False) as tx:
            return self._block(tx)

    def advance(self, n: int = 1) -> int:
        """Move the chain on by ``n`` blocks at once and return the new block (local chains
        only: a network moves on by itself)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"advance needs a block count >= 0, got {n!r}")
        with self._transaction(write=True) as tx:
            self._advance(tx, n)
            return self._block(tx)

    def register(self, hotkey: str, stake: float = 0.0, validator: bool = False) -> int:
        """Register ``hotkey`` and return its uid (uids count up from 0).

        A hotkey registered already keeps its uid, stake and permit: registering twice is
        harmless, so every neuron may register on start. ``validator`` grants the permit to
        set weights; ``stake`` weighs its weights in consensus.
        """
        if not isinstance(hotkey, str) or not hotkey:
            raise ValueError(f"a hotkey is a non-empty string, got {hotkey!r}")
        if not math.isfinite(stake) or stake < 0:
            raise ValueError(f"stake must be finite and >= 0, got {stake!r}")
        with self._transaction(write=True) as tx:
            neuron = self._neuron(tx, hotkey)
            if neuron is not None:
                return neuron.uid
            return self._add_neuron(tx, hotkey, float(stake), bool(validator))

    def uid(self, hotkey: str) -> int | None:
        """The uid of ``hotkey``, or ``None`` if it is not registered."""
        with self._transaction(write=False) as tx:
            neuron = self._neuron(tx, hotkey)
        return None if neuron is None else neuron.uid

    def commit(self, hotkey: str, payload: bytes) -> int:
        """Write ``payload`` as ``hotkey``'s commitment and return the block of the write.

        The latest write replaces the hotkey's previous commitment. Refused with a
        ``ChainError``: ``NOT_REGISTERED``, ``BAD_PAYLOAD`` (not 1 to 384 bytes) or
        ``QUOTA_EXCEEDED`` (the hotkey's commits in this tempo would pass 3100 bytes).
        """
        payload = rules.check_payload(payload)
        with self._transaction(write=True) as tx:
            block = self._block(tx)
            self._require(tx, hotkey)
            usage = rules.charge_quota(self._usage(tx, hotkey), block, payload)
            self._set_usage(tx, hotkey, *usage)
            self._put_commitment(tx, hotkey, block, payload)
        return block

    def commitments(self) -> dict[str, Commitment]:
        """Every hotkey's latest commitment, by hotkey."""
        with self._transaction(write=False) as tx:
            uids = {n.hotkey: n.uid for n in self._neurons(tx)}
            rows = self._commitments(tx)
        return {h: Commitment(h, uids[h], block, payload) for h, block, payload in rows}

    def commitment_at(self, hotkey: str, block: int) -> Commitment | None:
        """``hotkey``'s latest commitment as of the end of ``block``, ``None`` if none."""
        with self._transaction(write=False) as tx:
            _check_past(block, self._block(tx))
            row = self._commitment_at(tx, hotkey, block)
            neuron = self._neuron(tx, hotkey)
        if row is None or neuron is None:
            return None
        return Commitment(hotkey, neuron.uid, *row)

    def block_hash(self, block: int) -> str:
        """SHA-256 of the chain's secret (drawn at its creation) and the block number: a
        local chain's stand-in for a block hash, fixed per block and unknowable to a
        neuron that does not read the chain's storage."""
        with self._transaction(write=False) as tx:
            _check_past(block, self._block(tx))
            secret = self._secret(tx)
        return "0x" + hashlib.sha256(secret + block.to_bytes(8, "big")).hexdigest()

    def metagraph(self) -> Metagraph:
        """The current block and every registered neuron."""
        with self._transaction(write=False) as tx:
            return Metagraph(self._block(tx), self.tempo, tuple(self._neurons(tx)))

    def set_weights(self, hotkey: str, weights: dict[int, float]) -> None:
        """Store validator ``hotkey``'s weights on miners by uid, normalised to u16
        (``rules.normalize_weights``: only their ratios matter).

        Refused with a ``ChainError``: ``NOT_REGISTERED``, ``NO_VALIDATOR_PERMIT``,
        ``RATE_LIMITED`` (less than 100 blocks since its last set) or ``BAD_WEIGHTS`` (a
        negative or non-finite weight, or a uid nobody holds).
        """
        normalized = rules.normalize_weights(weights)
        with self._transaction(write=True) as tx:
            block = self._block(tx)
            neuron = self._require(tx, hotkey)
            if not neuron.validator_permit:
                raise ChainError(
                    ErrorCode.NO_VALIDATOR_PERMIT, f"hotkey {hotkey!r} has no validator permit"
                )
            rules.check_weights_rate(neuron.last_update, block)
            count = len(self._neurons(tx))
            unknown = [uid for uid in normalized if uid >= count]
            if unknown:
                raise ChainError(ErrorCode.BAD_WEIGHTS, f"no neuron holds uid(s) {unknown}")
            self._put_weights(tx, neuron.uid, block, normalized)

    def weights(self) -> dict[int, dict[int, int]]:
        """Each validator's latest weights (u16), by validator uid."""
        with self._transaction(write=False) as tx:
            return self._weights_before(tx, self._block(tx) + 1)

    def emissions(self, tempo_index: int) -> dict[str, float]:
        """Every registered hotkey's share of tempo ``tempo_index``'s emission.

        Consensus (``consensus.yuma``) runs over each validator's latest weights set before
        the tempo ended (so far, for the current tempo). The shares sum to 1, or are all 0
        when no validator has set weights.
        """
        if isinstance(tempo_index, bool) or not isinstance(tempo_index, int) or tempo_index < 0:
            raise ValueError(f"a tempo index is an integer >= 0, got {tempo_index!r}")
        with self._transaction(write=False) as tx:
            current = rules.tempo_index(self._block(tx))
            if tempo_index > current:
                raise ValueError(f"tempo {tempo_index} has not started (now tempo {current})")
            neurons = self._neurons(tx)
            weights = self._weights_before(tx, (tempo_index + 1) * rules.TEMPO)
        return _shares(neurons, weights)

    def shares(self, block: int) -> dict[str, float]:
        """Every registered hotkey's share of the emission as consensus stands at ``block``:
        over each validator's latest weights set at or before it. ``emissions(i)`` is
        ``shares`` at the last block of tempo ``i``."""
        if isinstance(block, bool) or not isinstance(block, int) or block < 0:
            raise ValueError(f"a block is an integer >= 0, got {block!r}")
        with self._transaction(write=False) as tx:
            return _shares(self._neurons(tx), self._weights_before(tx, block + 1))

    def weight_history(self) -> list[tuple[int, int, dict[int, int]]]:
        """Every ``set_weights`` so far, oldest first (by block, then validator uid):
        ``(block, validator uid, weights u16 by miner uid)``."""
        with self._transaction(write=False) as tx:
            return self._weight_history(tx)

    def _require(self, tx, hotkey: str) -> Neuron:
        neuron = self._neuron(tx, hotkey)
        if neuron is None:
            raise ChainError(ErrorCode.NOT_REGISTERED, f"hotkey {hotkey!r} is not registered")
        return neuron

    # --- storage primitives ---

    @abc.abstractmethod
    def _transaction(self, write: bool) -> contextlib.AbstractContextManager[Any]:
        """A context that yields the handle the primitives take; what happens inside is
        atomic and isolated from other writers, and rolled back if it raises."""

    @abc.abstractmethod
    def _block(self, tx) -> int:
        """The current block."""

    @abc.abstractmethod
    def _advance(self, tx, n: int) -> None:
        """Move the current block on by ``n`` (a network adapter, whose blocks no one can
        move, raises ``NotImplementedError``)."""

    @abc.abstractmethod
    def _neurons(self, tx) -> list[Neuron]:
        """Every neuron, in uid order."""

    @abc.abstractmethod
    def _neuron(self, tx, hotkey: str) -> Neuron | None:
        """The neuron of ``hotkey``, if registered."""

    @abc.abstractmethod
    def _add_neuron(self, tx, hotkey: str, stake: float, validator: bool) -> int:
        """Store a new neuron under the next uid and return it."""

    @abc.abstractmethod
    def _usage(self, tx, hotkey: str) -> tuple[int, int] | None:
        """The ``(tempo, bytes used)`` last stored for ``hotkey``, if any."""

    @abc.abstractmethod
    def _set_usage(self, tx, hotkey: str, tempo: int, used: int) -> None:
        """Store ``hotkey``'s quota usage."""

    @abc.abstractmethod
    def _put_commitment(self, tx, hotkey: str, block: int, payload: bytes) -> None:
        """Replace ``hotkey``'s commitment."""

    @abc.abstractmethod
    def _commitments(self, tx) -> list[tuple[str, int, bytes]]:
        """Every ``(hotkey, block, payload)`` stored."""

    @abc.abstractmethod
    def _commitment_at(self, tx, hotkey: str, block: int) -> tuple[int, bytes] | None:
        """``(block, payload)`` of ``hotkey``'s last write at or before ``block``."""

    @abc.abstractmethod
    def _secret(self, tx) -> bytes:
        """The chain's random secret, drawn once when the chain was created."""

    @abc.abstractmethod
    def _put_weights(self, tx, uid: int, block: int, weights: dict[int, int]) -> None:
        """Store validator ``uid``'s weights set at ``block``; its ``last_update`` becomes
        ``block``."""

    @abc.abstractmethod
    def _weights_before(self, tx, block: int) -> dict[int, dict[int, int]]:
        """Each validator's latest weights set before ``block``, by validator uid."""

    @abc.abstractmethod
    def _weight_history(self, tx) -> list[tuple[int, int, dict[int, int]]]:
        """Every ``(block, validator uid, weights)`` stored, by block then validator uid."""


def _check_past(block: int, now: int) -> None:
    if isinstance(block, bool) or not isinstance(block, int) or not 0 <= block <= now:
        raise ValueError(f"block must be an integer from 0 to the current {now}, got {block!r}")


def _shares(neurons: list[Neuron], weights: dict[int, dict[int, int]]) -> dict[str, float]:
    """Every neuron's share of the emission under consensus over ``weights``, by hotkey."""
    # Every validator's stake counts, whether it set weights or abstained.
    shares = consensus.yuma(weights, {n.uid: n.stake for n in neurons if n.validator_permit})
    return {n.hotkey: shares.get(n.uid, 0.0) for n in neurons}
