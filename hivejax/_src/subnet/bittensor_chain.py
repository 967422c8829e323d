"""``BittensorChain``: the ``Chain`` interface over a real subnet, through bittensor 11.

The network enforces its own rules, so this adapter stores nothing and checks only what it
can before sending (payload size with ``rules.split_fields``, weights with
``rules.normalize_weights``, that the hotkey is registered before a commit); then it maps
the network's refusals (``bt.ChainError``'s ``name`` or ``code``) to the ``ErrorCode``
every chain uses:

- ``NOT_REGISTERED`` (the SDK's code) and ``AccountNotAllowedCommit`` give
  ``NOT_REGISTERED``;
- ``RATE_LIMITED`` (``SettingWeightsTooFast``, ``CommittingWeightsTooFast``, ...) gives
  ``RATE_LIMITED``;
- ``SpaceLimitExceeded`` (the commitments quota) gives ``QUOTA_EXCEEDED``;
- ``TooManyFieldsInCommitmentInfo`` gives ``BAD_PAYLOAD``;
- ``NeuronNoValidatorPermit`` gives ``NO_VALIDATOR_PERMIT``;
- ``INVALID_ARGUMENT`` in ``set_weights`` (a uid nobody holds, too few weights) gives
  ``BAD_WEIGHTS``;
- anything else, connection failures included, gives ``NETWORK``.

How it uses the SDK:

- commit: ``Commitments.set_commitment(netuid, {"fields": [{"Raw<N>": bytes}]})`` as a
  raw call signed by the hotkey (a call-level ``Policy(allow_raw_calls=True)``, so a
  client-wide policy cannot refuse it); the block of the write is the ``<block>`` of the
  result's ``extrinsic_id`` (``"<block>-<index>"``);
- commitments: ``subnets.commitments(netuid)``, the payload rebuilt from the ``Raw``
  fields' hex, never from ``.data`` (text when the bytes happen to be UTF-8). Entries of
  deregistered hotkeys and entries with no ``Raw`` bytes (sealed timelock or hash-only
  commitments of other tools) are left out; other bytes are returned as they are, for
  ``commitment.decode`` to judge;
- set_weights: ``execute(SetWeights(netuid, weights, version_key))``, which preflights
  registration and the rate limit, clips to the subnet's ``max_weight_limit``, and sends a
  timelocked commit instead of a plain set when the subnet has commit-reveal on (then
  ``weights`` shows the new row only once the chain reveals it). All-zero weights are
  refused (``BAD_WEIGHTS``): the SDK has no way to send an empty set;
- metagraph: ``subnets.metagraph(netuid, commitments=False)``; a stake is the neuron's
  ``total_stake`` in the subnet's alpha, and ``last_update`` 0 reads as ``None``;
- the past: ``commitment_at`` is ``subnets.commitments(netuid, block=...)``, a read of the
  commitments storage at that block's hash, and ``block_hash`` the ``hash`` of
  ``block_info(block)``. A light node keeps the state of its last 256 blocks or so; a
  validator that must verify older reveals (one that started late) connects to an archive
  endpoint (``--network archive``), and a read it cannot serve is ``NETWORK``.

Registration is done with ``btcli``; emissions are the chain's own Yuma; blocks move on by
themselves: ``register``, ``emissions`` and ``advance`` raise ``NotImplementedError``.

The adapter runs the SDK's async client on an event loop of its own, one call at a time
(a lock makes it safe to share between threads); ``close`` it, or use it as a context
manager. Usage::

    import bittensor as bt
    wallet = bt.Wallet("miner", hotkey="default")
    with BittensorChain(bt.Subtensor("test"), netuid=49, wallet=wallet) as chain:
        chain.commit(chain.hotkey, payload)

bittensor is the ``[neurons]`` extra: only this module imports it, and nothing in the
core imports this module.
"""

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import bittensor as bt

from hivejax._src.subnet import rules
from hivejax._src.subnet.chain import Chain, Commitment, Metagraph, Neuron
from hivejax._src.subnet.rules import ChainError, ErrorCode

_BY_NAME = {
    "AccountNotAllowedCommit": ErrorCode.NOT_REGISTERED,
    "SpaceLimitExceeded": ErrorCode.QUOTA_EXCEEDED,
    "TooManyFieldsInCommitmentInfo": ErrorCode.BAD_PAYLOAD,
    "NeuronNoValidatorPermit": ErrorCode.NO_VALIDATOR_PERMIT,
}
_BY_CODE = {
    bt.ErrorCode.NOT_REGISTERED: ErrorCode.NOT_REGISTERED,
    bt.ErrorCode.RATE_LIMITED: ErrorCode.RATE_LIMITED,
}
# Raw calls skip the SDK's intent preview; a client-wide Policy refuses them unless it
# opts in, so the commit call brings its own.
_RAW_CALLS = bt.Policy(allow_raw_calls=True)


def translate(error: BaseException, invalid: ErrorCode | None = None) -> ChainError:
    """The ``ChainError`` for a bittensor error (see the list above); ``invalid`` is the
    code for an invalid argument, where the caller knows which argument that is."""
    name = getattr(error, "name", None)
    code = getattr(error, "code", None)
    if name in _BY_NAME:
        ours = _BY_NAME[name]
    elif code in _BY_CODE:
        ours = _BY_CODE[code]
    elif invalid is not None and (
        code is bt.ErrorCode.INVALID_ARGUMENT or type(error) is bt.BittensorError
    ):
        ours = invalid
    else:
        ours = ErrorCode.NETWORK
    what = ", ".join(str(x) for x in (getattr(code, "value", None), name) if x)
    return ChainError(ours, f"{error} (bittensor: {what or type(error).__name__})")


@contextlib.contextmanager
def _translated(invalid: ErrorCode | None = None) -> Iterator[None]:
    try:
        yield
    except (bt.BittensorError, OSError) as e:  # OSError: sockets, and TimeoutError
        raise translate(e, invalid) from e


def raw_payload(fields: list) -> bytes:
    """The bytes of a commitment's ``Raw`` fields, in order (decoded fields are one-key
    dicts such as ``{"Raw61": "0x…"}``; other variants carry no raw bytes)."""
    out = b""
    for entry in fields:
        for variant, value in entry.items() if isinstance(entry, dict) else ():
            if variant.startswith("Raw") and isinstance(value, str):
                out += bytes.fromhex(value.removeprefix("0x"))
            elif variant.startswith("Raw") and isinstance(value, bytes | bytearray):
                out += bytes(value)
    return out


def _included_block(result: bt.ExtrinsicResult) -> int | None:
    block, _, _ = (result.extrinsic_id or "").partition("-")
    return int(block) if block.isdigit() else None


def _shutdown(loop: asyncio.AbstractEventLoop, state: dict) -> None:
    """Close the client and the loop (``close``, or the finalizer of a chain never closed)."""
    if loop.is_closed():
        return
    try:
        if state.get("client") is not None:
            with contextlib.suppress(Exception):
                loop.run_until_complete(state.pop("client").close())
    finally:
        loop.close()


class BittensorChain(Chain):
    """Subnet ``netuid`` of the network that ``subtensor`` reaches, acting as ``wallet``.

    Args:
      subtensor: a ``bt.Subtensor`` not used yet (the adapter awaits it: its async mode).
      netuid: the subnet (49 is Hivetrain).
      wallet: a ``bt.Wallet``, or any object with ``coldkey``, ``coldkeypub`` and
        ``hotkey``; its hotkey signs commits and weights.
      version_key: the weights version key the subnet requires (0 unless its owner says).

    ``hotkey`` is the ss58 address of the wallet's hotkey: the only one ``commit`` and
    ``set_weights`` accept.
    """

    def __init__(self, subtensor: bt.Subtensor, netuid: int, wallet: Any, *, version_key=0):
        if isinstance(netuid, bool) or not isinstance(netuid, int) or netuid < 0:
            raise ValueError(f"a netuid is an integer >= 0, got {netuid!r}")
        self.netuid = netuid
        self.version_key = int(version_key)
        self.network = subtensor.network
        self.hotkey = bt.public_view(wallet, "hotkey").ss58_address
        self._subtensor = subtensor
        self._wallet = wallet
        # A loop of our own rather than the blocking Subtensor's: bittensor 11.3's SyncClient
        # stops its private loop on close but never closes it (a ResourceWarning at exit).
        self._loop = asyncio.new_event_loop()
        self._state: dict = {"client": None}
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _shutdown, self._loop, self._state)

    def __repr__(self) -> str:
        return f"BittensorChain(network={self.network!r}, netuid={self.netuid})"

    def __enter__(self) -> "BittensorChain":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection; the chain is unusable afterwards."""
        with self._lock:
            self._finalizer()

    def _call(self, read: Callable[[Any], Awaitable], invalid: ErrorCode | None = None):
        """Run ``read(client)`` on this chain's loop, bittensor errors translated."""

        async def run():
            if self._state["client"] is None:
                self._state["client"] = await self._subtensor
            return await read(self._state["client"])

        with self._lock, _translated(invalid):
            if self._loop.is_closed():
                raise RuntimeError(f"{self!r} is closed")
            return self._loop.run_until_complete(run())

    def _submit(self, send: Callable[[Any], Awaitable], invalid=None) -> bt.ExtrinsicResult:
        async def checked(client):
            return (await send(client)).raise_for_failure()

        return self._call(checked, invalid)

    def _check_signer(self, hotkey: str) -> None:
        if hotkey != self.hotkey:
            raise ValueError(f"this chain signs with hotkey {self.hotkey}, not {hotkey!r}")

    # --- the interface ---

    @property
    def tempo(self) -> int:
        """The subnet's tempo, read from the chain (360 blocks unless its owner changed it)."""
        tempo = self._call(lambda c: c.query(bt.storage.SubtensorModule.Tempo, [self.netuid]))
        if tempo is None:
            raise ChainError(ErrorCode.NETWORK, f"netuid {self.netuid} has no tempo on chain")
        return int(tempo)

    def block(self) -> int:
        return int(self._call(lambda c: c.block()))

    def advance(self, n: int = 1) -> int:
        raise NotImplementedError(f"{self.network}'s blocks move on by themselves")

    def register(self, hotkey: str, stake: float = 0.0, validator: bool = False) -> int:
        raise NotImplementedError(
            f"register hotkeys on {self.network} with btcli: "
            f"btcli subnets register --netuid {self.netuid} --network {self.network}"
        )

    def uid(self, hotkey: str) -> int | None:
        uid = self._call(lambda c: c.neurons.uid(hotkey, self.netuid))
        return None if uid is None else int(uid)

    def commit(self, hotkey: str, payload: bytes) -> int:
        """Write ``payload`` as the commitment of this chain's hotkey; the block of the
        write. ``hotkey`` must be ``self.hotkey`` (``ValueError`` otherwise)."""
        self._check_signer(hotkey)
        fields = rules.split_fields(payload)
        if self.uid(hotkey) is None:
            raise ChainError(
                ErrorCode.NOT_REGISTERED, f"hotkey {hotkey} is not registered on {self!r}"
            )
        info = {"fields": [{f"Raw{len(f)}": f} for f in fields]}
        call = bt.calls.Commitments.set_commitment(self.netuid, info)
        result = self._submit(
            lambda c: c.submit_call(call, self._wallet, signer="hotkey", policy=_RAW_CALLS)
        )
        block = _included_block(result)
        return self.block() if block is None else block

    def commitments(self, block: int | None = None) -> dict[str, Commitment]:
        """Every hotkey's latest commitment, by hotkey: now, or as of ``block``."""
        records = self._call(lambda c: c.subnets.commitments(self.netuid, block=block))
        out = {}
        for hotkey, record in sorted(records.items()):
            payload = raw_payload(record.fields)
            if record.uid is not None and payload:
                out[hotkey] = Commitment(hotkey, int(record.uid), int(record.block), payload)
        return out

    def commitment_at(self, hotkey: str, block: int) -> Commitment | None:
        return self.commitments(block).get(hotkey)

    def block_hash(self, block: int) -> str:
        info = self._call(lambda c: c.block_info(block))
        if info is None or not info.hash:
            raise ChainError(ErrorCode.NETWORK, f"{self!r} has no block {block}")
        return str(info.hash)

    def metagraph(self) -> Metagraph:
        graph = self._call(lambda c: c.subnets.metagraph(self.netuid, commitments=False))
        if graph is None:
            raise ChainError(ErrorCode.NETWORK, f"netuid {self.netuid} does not exist")
        neurons = tuple(
            Neuron(
                int(n.uid),
                n.hotkey,
                float(n.total_stake.amount),
                bool(n.validator_permit),
                int(n.last_update) or None,
            )
            for n in graph.neurons
        )
        return Metagraph(int(graph.block), int(graph.tempo), neurons)

    def set_weights(self, hotkey: str, weights: dict[int, float]) -> None:
        """Set this chain's hotkey's weights (``hotkey`` must be ``self.hotkey``), plainly or
        as a timelocked commit, as the subnet runs; all-zero weights are ``BAD_WEIGHTS``."""
        self._check_signer(hotkey)
        normalized = rules.normalize_weights(weights)
        if not normalized:
            raise ChainError(
                ErrorCode.BAD_WEIGHTS, "all weights are zero: the network takes no empty set"
            )
        intent = bt.SetWeights(
            self.netuid,
            weights={uid: float(w) for uid, w in normalized.items()},
            version_key=self.version_key,
        )
        self._submit(lambda c: c.execute(intent, self._wallet), invalid=ErrorCode.BAD_WEIGHTS)

    def weights(self) -> dict[int, dict[int, int]]:
        """Each validator's weights as the chain shows them (revealed ones only, under
        commit-reveal), by validator uid."""
        storage = bt.storage.SubtensorModule.Weights
        rows = self._call(lambda c: c.query_map(storage, [self.netuid]))
        out = {}
        for uid, row in sorted(rows, key=lambda r: int(r[0])):
            weights = {int(dest): int(w) for dest, w in row or () if int(w) > 0}
            if weights:
                out[int(uid)] = weights
        return out

    def emissions(self, tempo_index: int) -> dict[str, float]:
        raise NotImplementedError(
            f"emissions on {self.network} are the chain's own (read each neuron's emission "
            "from the SDK's metagraph)"
        )


def connect(
    network: str, netuid: int, wallet_name: str, wallet_hotkey: str, wallet_path: str | None = None
) -> BittensorChain:
    """Subnet ``netuid`` on ``network`` (``test``, ``finney`` or a ``ws://`` endpoint),
    acting as the hotkey ``wallet_hotkey`` of the wallet ``wallet_name`` (its key files
    under ``wallet_path``, default bittensor's ``~/.bittensor/wallets``).

    Raises ``FileNotFoundError`` naming the key file when the wallet has no such hotkey.
    """
    wallet = bt.Wallet(
        wallet_name, hotkey=wallet_hotkey, **({"path": wallet_path} if wallet_path else {})
    )
    try:
        bt.public_view(wallet, "hotkey")
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"{e}; create the wallet with `btcli wallet create --wallet.name {wallet_name} "
            f"--wallet.hotkey {wallet_hotkey}`"
        ) from None
    return BittensorChain(bt.Subtensor(network), netuid, wallet)
