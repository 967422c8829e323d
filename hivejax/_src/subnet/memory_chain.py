"""An in-memory chain for tests and notebooks: the rules of ``RuledChain``, no clock, no files.

Time stands still until ``advance`` moves it, so a test decides exactly at which block
every call happens. A lock makes each call atomic between threads; the state dies with
the object.

Example:
  >>> chain = MemoryChain()
  >>> chain.register("miner"), chain.register("validator", stake=1.0, validator=True)
  (0, 1)
  >>> chain.commit("miner", b"program"), chain.advance(5), chain.commit("miner", b"better")
  (0, 5, 5)
  >>> chain.commitments()["miner"].payload
  b'better'
"""

import contextlib
import dataclasses
import os
import threading
from collections.abc import Iterator

from hivejax._src.subnet.chain import Neuron
from hivejax._src.subnet.ruled_chain import RuledChain


@dataclasses.dataclass
class _State:
    block: int = 0
    neurons: list[Neuron] = dataclasses.field(default_factory=list)
    uids: dict[str, int] = dataclasses.field(default_factory=dict)
    usage: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    commitments: dict[str, tuple[int, bytes]] = dataclasses.field(default_factory=dict)
    # hotkey -> every (block, payload) it wrote, oldest first
    history: dict[str, list[tuple[int, bytes]]] = dataclasses.field(default_factory=dict)
    secret: bytes = b""
    # validator uid -> every (block, weights) it set, oldest first
    weights: dict[int, list[tuple[int, dict[int, int]]]] = dataclasses.field(default_factory=dict)


class MemoryChain(RuledChain):
    """A chain held in this process's memory; it starts at block ``genesis_block``.

    ``secret`` (32 random bytes by default) decides the block hashes: two chains given the
    same secret hash their blocks alike.
    """

    def __init__(self, genesis_block: int = 0, secret: bytes | None = None):
        if isinstance(genesis_block, bool) or not isinstance(genesis_block, int):
            raise ValueError(f"genesis_block must be an integer, got {genesis_block!r}")
        if genesis_block < 0:
            raise ValueError(f"genesis_block must be >= 0, got {genesis_block}")
        self._state = _State(block=genesis_block, secret=secret or os.urandom(32))
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _transaction(self, write: bool) -> Iterator[_State]:
        # Template methods check every rule before their first write, so a refused call has
        # nothing to roll back.
        with self._lock:
            yield self._state

    def _block(self, tx: _State) -> int:
        return tx.block

    def _advance(self, tx: _State, n: int) -> None:
        tx.block += n

    def _neurons(self, tx: _State) -> list[Neuron]:
        return list(tx.neurons)

    def _neuron(self, tx: _State, hotkey: str) -> Neuron | None:
        uid = tx.uids.get(hotkey)
        return None if uid is None else tx.neurons[uid]

    def _add_neuron(self, tx: _State, hotkey: str, stake: float, validator: bool) -> int:
        uid = len(tx.neurons)
        tx.neurons.append(Neuron(uid, hotkey, stake, validator, None))
        tx.uids[hotkey] = uid
        return uid

    def _usage(self, tx: _State, hotkey: str) -> tuple[int, int] | None:
        return tx.usage.get(hotkey)

    def _set_usage(self, tx: _State, hotkey: str, tempo: int, used: int) -> None:
        tx.usage[hotkey] = (tempo, used)

    def _put_commitment(self, tx: _State, hotkey: str, block: int, payload: bytes) -> None:
        tx.commitments[hotkey] = (block, payload)
        tx.history.setdefault(hotkey, []).append((block, payload))

    def _commitments(self, tx: _State) -> list[tuple[str, int, bytes]]:
        return [(h, block, payload) for h, (block, payload) in tx.commitments.items()]

    def _commitment_at(self, tx: _State, hotkey: str, block: int) -> tuple[int, bytes] | None:
        return next((w for w in reversed(tx.history.get(hotkey, [])) if w[0] <= block), None)

    def _secret(self, tx: _State) -> bytes:
        return tx.secret

    def _put_weights(self, tx: _State, uid: int, block: int, weights: dict[int, int]) -> None:
        tx.weights.setdefault(uid, []).append((block, dict(weights)))
        tx.neurons[uid] = dataclasses.replace(tx.neurons[uid], last_update=block)

    def _weights_before(self, tx: _State, block: int) -> dict[int, dict[int, int]]:
        out = {}
        for uid, history in sorted(tx.weights.items()):
            earlier = [w for b, w in history if b < block]
            if earlier:
                out[uid] = dict(earlier[-1])
        return out

    def _weight_history(self, tx: _State) -> list[tuple[int, int, dict[int, int]]]:
        rows = [(b, uid, dict(w)) for uid, history in tx.weights.items() for b, w in history]
        return sorted(rows, key=lambda row: row[:2])
