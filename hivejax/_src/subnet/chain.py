"""The ``Chain`` interface: what miners and validators need from a blockchain.

A subnet's neurons use five chain operations: read the block, write a commitment, read
everyone's commitments, read the metagraph and set weights. ``Chain`` declares them, plus
registration, the tempo and the consensus step that turns weights into emissions, and two
reads of the chain's past that every validator gets alike, whenever it started: a block's
hash (the randomness evaluation seeds derive from) and a hotkey's commitment as of a block
(how a validator that started late verifies a reveal's hash).

Two families implement it:

- ``RuledChain`` (``ruled_chain``) enforces the rules of ``rules`` itself over storage
  primitives: the in-memory chain of the tests and the local SQLite chain;
- ``BittensorChain`` (``bittensor_chain``, the ``[neurons]`` extra) is an adapter to the
  real network, which enforces its own rules; it checks what it can before sending, and
  maps the network's refusals to the same ``ErrorCode``, so neurons branch identically on
  every chain. Registration (``btcli``), emissions (the chain's own Yuma) and ``advance``
  are not the adapter's to do, and raise ``NotImplementedError``.
"""

import abc
import dataclasses


@dataclasses.dataclass(frozen=True)
class Commitment:
    """A hotkey's latest commitment: the chain keeps no history, only the block of the
    latest write, which moves on at every re-commit."""

    hotkey: str
    uid: int
    block: int
    payload: bytes


@dataclasses.dataclass(frozen=True)
class Neuron:
    """One registered hotkey. ``last_update`` is the block of its latest ``set_weights``,
    ``None`` before its first."""

    uid: int
    hotkey: str
    stake: float
    validator_permit: bool
    last_update: int | None


@dataclasses.dataclass(frozen=True)
class Metagraph:
    """The subnet at one block: its neurons in uid order."""

    block: int
    tempo: int
    neurons: tuple[Neuron, ...]


class Chain(abc.ABC):
    """A subnet's chain, as neurons see it. Refusals are ``rules.ChainError`` with a code."""

    @property
    @abc.abstractmethod
    def tempo(self) -> int:
        """Blocks in one tempo: the period of the commit quota and of consensus."""

    @abc.abstractmethod
    def block(self) -> int:
        """The current block number."""

    @abc.abstractmethod
    def advance(self, n: int = 1) -> int:
        """Move the chain on by ``n`` blocks at once and return the new block (local chains
        only: a network moves on by itself)."""

    @abc.abstractmethod
    def register(self, hotkey: str, stake: float = 0.0, validator: bool = False) -> int:
        """Register ``hotkey`` and return its uid; registering twice is harmless.
        ``validator`` grants the permit to set weights; ``stake`` weighs its weights in
        consensus."""

    @abc.abstractmethod
    def uid(self, hotkey: str) -> int | None:
        """The uid of ``hotkey``, or ``None`` if it is not registered."""

    @abc.abstractmethod
    def commit(self, hotkey: str, payload: bytes) -> int:
        """Write ``payload`` as ``hotkey``'s commitment and return the block of the write.

        The latest write replaces the hotkey's previous commitment. Refused with a
        ``ChainError``: ``NOT_REGISTERED``, ``BAD_PAYLOAD`` (not 1 to 384 bytes) or
        ``QUOTA_EXCEEDED`` (the hotkey's commits in this tempo would pass 3100 bytes).
        """

    @abc.abstractmethod
    def commitments(self) -> dict[str, Commitment]:
        """Every registered hotkey's latest commitment, by hotkey."""

    @abc.abstractmethod
    def commitment_at(self, hotkey: str, block: int) -> Commitment | None:
        """``hotkey``'s latest commitment as the chain stood at the end of ``block`` (at
        most the current block), ``None`` if it had none. On bittensor this reads the
        chain's state at that block: an archive node's, for blocks older than a light
        node keeps."""

    @abc.abstractmethod
    def block_hash(self, block: int) -> str:
        """The hash of ``block`` (at most the current block), ``0x`` and hex digits: fixed
        once the block exists, unknowable before."""

    @abc.abstractmethod
    def metagraph(self) -> Metagraph:
        """The current block and every registered neuron."""

    @abc.abstractmethod
    def set_weights(self, hotkey: str, weights: dict[int, float]) -> None:
        """Set validator ``hotkey``'s weights on miners by uid, normalised to u16
        (``rules.normalize_weights``: only their ratios matter).

        Refused with a ``ChainError``: ``NOT_REGISTERED``, ``NO_VALIDATOR_PERMIT``,
        ``RATE_LIMITED`` (less than 100 blocks since its last set) or ``BAD_WEIGHTS`` (a
        negative or non-finite weight, or a uid nobody holds).
        """

    @abc.abstractmethod
    def weights(self) -> dict[int, dict[int, int]]:
        """Each validator's latest weights (u16) that the chain shows, by validator uid."""

    @abc.abstractmethod
    def emissions(self, tempo_index: int) -> dict[str, float]:
        """Every registered hotkey's share of tempo ``tempo_index``'s emission (the shares
        sum to 1, or are all 0 when no validator has set weights)."""
