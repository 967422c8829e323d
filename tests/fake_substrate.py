"""An in-memory subtensor for ``bt.Subtensor(network, substrate=FakeSubstrate())``.

The SDK's own seam: ``bt.Subtensor`` accepts any object with the ``bittensor.Substrate``
methods, so the SDK's real intents, policy checks, encoders and read decoders run with no
network. This fake holds one subnet's state and answers in the decoded shapes the RPC
backend returns (hex strings for bytes, plain ints, dicts for structs). ``submit`` applies
the two extrinsics neurons send and refuses them the way the chain does:

- ``Commitments.set_commitment``: ``AccountNotAllowedCommit`` for an unregistered hotkey,
  ``TooManyFieldsInCommitmentInfo`` past 3 fields, ``SpaceLimitExceeded`` past the tempo's
  quota; the latest write replaces the hotkey's entry, stored as the chain stores it,
  ``{"block", "deposit", "info": {"fields": [{"RawN": "0x…"}]}}``, and a read at a past
  block's hash (an archive node's read) sees the entries as they were then;
- ``SubtensorModule.set_mechanism_weights`` (plain) and
  ``commit_timelocked_mechanism_weights`` (commit-reveal): ``SettingWeightsTooFast`` /
  ``CommittingWeightsTooFast`` inside the rate limit. A plain set is readable at once in
  ``Weights``; a timelocked commit only in ``timelocked`` (the chain reveals it later).

Only what hivejax's adapter and the SDK paths it uses touch is modelled.
"""

import dataclasses

import bittensor as bt

# Storage of the subnet's hyperparameters, as subtensor's defaults have them.
TEMPO = 360
RATE_LIMIT = 100
QUOTA = 3100


@dataclasses.dataclass
class FakeNeuron:
    hotkey: str
    coldkey: str
    stake_rao: int
    validator_permit: bool
    last_update: int = 0


class FakeSubstrate:
    """One subnet ``netuid`` on a chain at ``block``; tests move ``block`` by hand."""

    def __init__(self, netuid: int, *, block: int = 1000, commit_reveal: bool = False):
        self.token_symbols: dict[int, str] = {}
        self.netuid = netuid
        self.block = block
        self.commit_reveal = commit_reveal
        self.neurons: list[FakeNeuron] = []
        self.commitments: dict[str, dict] = {}  # hotkey -> CommitmentOf record
        self.history: list[tuple[str, dict]] = []  # every (hotkey, record) written, in order
        self.used_space: dict[str, tuple[int, int]] = {}  # hotkey -> (tempo, bytes)
        self.weights: dict[int, list[tuple[int, int]]] = {}  # uid -> [(dest, u16)]
        self.timelocked: list[dict] = []  # commit_timelocked_mechanism_weights params
        self.extrinsics: list[tuple[str, str, str]] = []  # (signer, module, function)
        self.connected = False

    # --- seeding ---

    def register(self, hotkey: str, *, stake_tao: float = 0.0, validator: bool = False) -> int:
        self.neurons.append(FakeNeuron(hotkey, hotkey, int(stake_tao * 1e9), validator))
        return len(self.neurons) - 1

    def uid(self, hotkey: str) -> int | None:
        return next((i for i, n in enumerate(self.neurons) if n.hotkey == hotkey), None)

    # --- the Substrate contract ---

    def balance(self, rao: int, netuid: int = 0) -> bt.Balance:
        return bt.Balance.from_rao(rao, netuid)

    async def connect(self) -> None:
        self.connected = True

    async def close(self) -> None:
        self.connected = False

    async def block_number(self) -> int:
        return self.block

    async def finalized_block_number(self) -> int:
        return self.block

    async def block_hash(self, block: int | None = None) -> str:
        return f"0x{self.block if block is None else block:064x}"

    async def get_block(self, block_number=None, block_hash=None) -> dict | None:
        number = self.block if block_number is None else block_number
        if block_hash is not None:
            number = int(block_hash, 16)
        if number > self.block:
            return None
        stamp = {"call_module": "Timestamp", "call_args": [{"value": number * 12_000}]}
        return {
            "header": {"number": number, "hash": await self.block_hash(number)},
            "extrinsics": [{"call": stamp}],
        }

    async def block_time(self) -> float:
        return 12.0

    async def query(self, module, storage_function, params=None, block_hash=None):
        return self._storage(module, storage_function, list(params or []))

    async def query_map(self, module, storage_function, params=None, block_hash=None):
        params = list(params or [])
        key = (module, storage_function)
        if params != [self.netuid] and key != ("SubtensorModule", "TokenSymbol"):
            return []
        if key == ("Commitments", "CommitmentOf"):
            if block_hash is None:
                return list(self.commitments.items())
            at = int(block_hash, 16)
            return list({h: r for h, r in self.history if r["block"] <= at}.items())
        if key == ("SubtensorModule", "Uids"):
            return [(n.hotkey, uid) for uid, n in enumerate(self.neurons)]
        if key == ("SubtensorModule", "Weights"):
            return sorted(self.weights.items())
        return []  # TokenSymbol, RevealedCommitments, ...

    async def runtime_call(self, api, method, params, block_hash=None):
        if (api, method) != ("SubnetInfoRuntimeApi", "get_metagraph") or params != [self.netuid]:
            return None
        return {
            "netuid": self.netuid,
            "name": "hivetrain",
            "symbol": "h",
            "block": self.block,
            "tempo": TEMPO,
            "last_step": 0,
            "blocks_since_last_step": self.block % TEMPO,
            "owner_hotkey": "owner",
            "owner_coldkey": "owner",
            "network_registered_at": 0,
            "hotkeys": [n.hotkey for n in self.neurons],
            "coldkeys": [n.coldkey for n in self.neurons],
            "validator_permit": [n.validator_permit for n in self.neurons],
            "last_update": [n.last_update for n in self.neurons],
            "total_stake": [n.stake_rao for n in self.neurons],
            "active": [True] * len(self.neurons),
        }

    async def compose(self, call):
        return call

    async def estimate_fee(self, call, keypair) -> bt.Balance:
        return bt.Balance.from_rao(0)

    async def submit(self, call, keypair, **_options) -> bt.ExtrinsicResult:
        signer = keypair.ss58_address
        self.extrinsics.append((signer, call.module, call.function))
        apply = {
            ("Commitments", "set_commitment"): self._set_commitment,
            ("SubtensorModule", "set_mechanism_weights"): self._set_weights,
            ("SubtensorModule", "commit_timelocked_mechanism_weights"): self._commit_weights,
        }.get((call.module, call.function))
        error = "CallFiltered" if apply is None else apply(signer, call.params)
        if error is not None:
            return bt.ExtrinsicResult(False, error, error=bt.ChainError(error, error))
        extrinsic_id = f"{self.block}-{len(self.extrinsics)}"
        return bt.ExtrinsicResult(True, "ok", await self.block_hash(), extrinsic_id)

    # --- the chain's storage and dispatch ---

    def _storage(self, module: str, name: str, params: list):
        netuid_only = {
            "CommitRevealWeightsEnabled": self.commit_reveal,
            "WeightsSetRateLimit": RATE_LIMIT,
            "MinAllowedWeights": 1,
            "MaxWeightsLimit": 65535,
            "SubnetEpochConsensus": "Yuma",
            "Tempo": TEMPO,
            "RevealPeriodEpochs": 1,
            "LastEpochBlock": self.block - self.block % TEMPO,
            "PendingEpochAt": 0,
            "SubnetEpochIndex": self.block // TEMPO,
            "BlocksSinceLastStep": self.block % TEMPO,
            "LastUpdate": [n.last_update for n in self.neurons],
            "ValidatorPermit": [n.validator_permit for n in self.neurons],
        }
        if module != "SubtensorModule" or not params or params[0] != self.netuid:
            return None
        if name == "Uids":
            return self.uid(params[1])
        return netuid_only.get(name) if len(params) == 1 else None

    def _set_commitment(self, signer: str, params: dict) -> str | None:
        if params["netuid"] != self.netuid or self.uid(signer) is None:
            return "AccountNotAllowedCommit"
        fields = params["info"]["fields"]
        if len(fields) > 3:
            return "TooManyFieldsInCommitmentInfo"
        stored = []
        for field in fields:
            ((variant, data),) = field.items()
            assert variant == f"Raw{len(data)}" and isinstance(data, bytes), field
            stored.append({variant: "0x" + data.hex()})
        size = sum(len(d) for f in fields for d in f.values())
        tempo = self.block // TEMPO
        before = self.used_space.get(signer, (tempo, 0))
        used = (before[1] if before[0] == tempo else 0) + max(100, size)
        if used > QUOTA:
            return "SpaceLimitExceeded"
        self.used_space[signer] = (tempo, used)
        self.commitments[signer] = {"block": self.block, "deposit": 0, "info": {"fields": stored}}
        self.history.append((signer, self.commitments[signer]))
        return None

    def _rate_limited(self, signer: str) -> bool:
        last = self.neurons[self.uid(signer)].last_update
        return last > 0 and self.block - last < RATE_LIMIT

    def _set_weights(self, signer: str, params: dict) -> str | None:
        uid = self.uid(signer)
        if uid is None:
            return "HotKeyNotRegisteredInSubNet"
        if self.commit_reveal:
            return "CommitRevealEnabled"
        if self._rate_limited(signer):
            return "SettingWeightsTooFast"
        self.weights[uid] = list(zip(params["dests"], params["weights"], strict=True))
        self.neurons[uid].last_update = self.block
        return None

    def _commit_weights(self, signer: str, params: dict) -> str | None:
        uid = self.uid(signer)
        if uid is None:
            return "HotKeyNotRegisteredInSubNet"
        if self._rate_limited(signer):
            return "CommittingWeightsTooFast"
        self.timelocked.append({"uid": uid, "block": self.block, **params})
        self.neurons[uid].last_update = self.block
        return None
