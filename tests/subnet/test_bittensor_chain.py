"""The bittensor adapter, offline: the SDK's real encode, submit and read paths over the
in-memory subtensor of ``fake_substrate`` (``bt.Subtensor(network, substrate=fake)``).

Skipped where the ``[neurons]`` extra (bittensor) is not installed.
"""

import dataclasses
import gc

import pytest

bt = pytest.importorskip("bittensor")

from fake_substrate import QUOTA, RATE_LIMIT, TEMPO, FakeSubstrate  # noqa: E402

from hivejax._src.subnet import commitment  # noqa: E402
from hivejax._src.subnet.bittensor_chain import BittensorChain, raw_payload, translate  # noqa: E402
from hivejax._src.subnet.chain import Commitment, Metagraph, Neuron  # noqa: E402
from hivejax._src.subnet.rules import ChainError, ErrorCode  # noqa: E402
from hivejax._src.tasks.registry import builtin, builtin_spec  # noqa: E402

NETUID = 49
GENESIS = 1000


@dataclasses.dataclass
class DevWallet:
    """Anything with ``coldkey``, ``coldkeypub`` and ``hotkey`` is a wallet to the SDK."""

    coldkey: object
    coldkeypub: object
    hotkey: object


def dev_wallet(uri: str) -> DevWallet:
    key = bt.sp_core.Keypair.create_from_uri(uri)
    return DevWallet(key, key, key)


VALIDATOR, MINER, STRANGER = dev_wallet("//Alice"), dev_wallet("//Bob"), dev_wallet("//Charlie")


@pytest.fixture
def fake(monkeypatch, tmp_path):
    # Connecting caches token symbols on disk; keep that out of the home directory.
    monkeypatch.setenv("BTCLI_TOKEN_SYMBOLS_CACHE", str(tmp_path / "token_symbols.json"))
    fake = FakeSubstrate(NETUID, block=GENESIS)
    fake.register(VALIDATOR.hotkey.ss58_address, stake_tao=2.5, validator=True)
    fake.register(MINER.hotkey.ss58_address)
    return fake


@pytest.fixture
def connect(fake):
    chains = []

    def connect(wallet) -> BittensorChain:
        chain = BittensorChain(bt.Subtensor("local", substrate=fake), NETUID, wallet)
        chains.append(chain)
        return chain

    yield connect
    for chain in chains:
        chain.close()
    gc.collect()  # an unclosed loop or socket would warn here, and warnings are errors


def refused(code: ErrorCode):
    return pytest.raises(ChainError, check=lambda e: e.code is code)


def test_a_binary_commitment_round_trips(fake, connect):
    chain = connect(MINER)
    payload = commitment.encode(
        "loss", "0123456789ab", builtin_spec("cross_entropy"), builtin("cross_entropy")
    )
    with pytest.raises(UnicodeDecodeError):
        payload.decode("utf-8")  # the case where the SDK's text ``.data`` would mislead
    assert chain.commit(chain.hotkey, payload) == GENESIS
    stored = fake.commitments[chain.hotkey]["info"]["fields"]
    assert stored == [{f"Raw{len(payload)}": "0x" + payload.hex()}]
    assert chain.commitments() == {chain.hotkey: Commitment(chain.hotkey, 1, GENESIS, payload)}
    assert commitment.decode(chain.commitments()[chain.hotkey].payload).protocol_version == (
        "0123456789ab"
    )
    fake.block += 7  # the latest write wins and its block moves on
    assert chain.commit(chain.hotkey, payload[:-1]) == GENESIS + 7
    assert chain.commitments()[chain.hotkey] == Commitment(
        chain.hotkey, 1, GENESIS + 7, payload[:-1]
    )


def test_a_three_field_payload(fake, connect):
    chain = connect(MINER)
    payload = bytes(range(256)) + bytes(range(255, 211, -1))
    chain.commit(chain.hotkey, payload)
    stored = fake.commitments[chain.hotkey]["info"]["fields"]
    assert [next(iter(f)) for f in stored] == ["Raw128", "Raw128", "Raw44"]
    assert chain.commitments()[chain.hotkey].payload == payload
    sent = len(fake.extrinsics)
    for size in (0, 385):  # refused here, before anything is signed
        with refused(ErrorCode.BAD_PAYLOAD):
            chain.commit(chain.hotkey, bytes(size))
    assert len(fake.extrinsics) == sent


def test_the_network_quota_maps_to_quota_exceeded(fake, connect):
    chain = connect(MINER)
    for i in range(QUOTA // 100):
        chain.commit(chain.hotkey, bytes([i]) * 100)
    with refused(ErrorCode.QUOTA_EXCEEDED):  # the chain's SpaceLimitExceeded
        chain.commit(chain.hotkey, b"x")
    fake.block += TEMPO
    chain.commit(chain.hotkey, b"x")


def test_commitments_leave_out_what_carries_no_raw_bytes(fake, connect):
    chain = connect(MINER)
    chain.commit(chain.hotkey, b"\x00\xff")
    fake.commitments["gone"] = {"block": 1, "deposit": 0, "info": {"fields": [{"Raw1": "0x01"}]}}
    sealed = {"TimelockEncrypted": {"encrypted": "0x00", "reveal_round": 5}}
    fake.commitments[VALIDATOR.hotkey.ss58_address] = {
        "block": 2,
        "deposit": 0,
        "info": {"fields": [sealed]},
    }
    assert list(chain.commitments()) == [chain.hotkey]
    assert raw_payload([{"Raw2": "0x00ff"}, sealed, "None", {"Raw1": b"\x07"}]) == b"\x00\xff\x07"


def test_metagraph_uid_block_and_tempo(fake, connect):
    chain = connect(VALIDATOR)
    validator, miner = VALIDATOR.hotkey.ss58_address, MINER.hotkey.ss58_address
    assert chain.metagraph() == Metagraph(
        block=GENESIS,
        tempo=TEMPO,
        neurons=(Neuron(0, validator, 2.5, True, None), Neuron(1, miner, 0.0, False, None)),
    )
    assert (chain.uid(validator), chain.uid(miner)) == (0, 1)
    assert chain.uid(STRANGER.hotkey.ss58_address) is None
    fake.block += 3
    assert (chain.block(), chain.tempo) == (GENESIS + 3, TEMPO)


def test_set_weights_plain(fake, connect):
    chain = connect(VALIDATOR)
    chain.set_weights(chain.hotkey, {1: 1.0, 0: 0.5})
    assert fake.weights == {0: [(0, 32768), (1, 65535)]}
    assert chain.weights() == {0: {0: 32768, 1: 65535}}
    assert chain.metagraph().neurons[0].last_update == GENESIS
    fake.block += RATE_LIMIT - 1
    with refused(ErrorCode.RATE_LIMITED):
        chain.set_weights(chain.hotkey, {1: 1.0})
    fake.block += 1
    chain.set_weights(chain.hotkey, {1: 1.0})
    assert chain.weights() == {0: {1: 65535}}


def test_set_weights_with_commit_reveal(fake, connect):
    fake.commit_reveal = True
    chain = connect(VALIDATOR)
    chain.set_weights(chain.hotkey, {1: 1.0, 0: 0.25})
    (commit,) = fake.timelocked
    assert (commit["uid"], commit["netuid"], commit["block"]) == (0, NETUID, GENESIS)
    assert commit["reveal_round"] > 0 and len(commit["commit"]) > 0
    assert chain.weights() == {}  # hidden until the chain reveals them
    fake.block += RATE_LIMIT - 1
    with refused(ErrorCode.RATE_LIMITED):
        chain.set_weights(chain.hotkey, {1: 1.0})
    assert len(fake.timelocked) == 1


def test_an_unregistered_hotkey_is_refused(fake, connect):
    chain = connect(STRANGER)
    with refused(ErrorCode.NOT_REGISTERED):
        chain.commit(chain.hotkey, b"program")
    with refused(ErrorCode.NOT_REGISTERED):  # the SDK's preflight, mapped
        chain.set_weights(chain.hotkey, {0: 1.0})
    assert fake.extrinsics == [] and fake.commitments == {}


def test_a_keyfile_wallet_signs_with_its_hotkey(fake, connect, tmp_path):
    wallet = bt.Wallet("miner", hotkey="default", path=str(tmp_path))
    wallet.create_new_coldkey(use_password=False, suppress=True)
    wallet.create_new_hotkey(use_password=False, suppress=True)
    uid = fake.register(wallet.hotkey.ss58_address)
    chain = connect(wallet)
    assert chain.hotkey == wallet.hotkey.ss58_address
    chain.commit(chain.hotkey, b"\xff")
    assert fake.extrinsics == [(chain.hotkey, "Commitments", "set_commitment")]
    assert chain.commitments()[chain.hotkey].uid == uid


def test_what_the_adapter_cannot_do(connect):
    chain = connect(VALIDATOR)
    with pytest.raises(ValueError, match="signs with hotkey"):
        chain.commit(MINER.hotkey.ss58_address, b"program")
    with pytest.raises(ValueError, match="signs with hotkey"):
        chain.set_weights(MINER.hotkey.ss58_address, {0: 1.0})
    with refused(ErrorCode.BAD_WEIGHTS):
        chain.set_weights(chain.hotkey, {0: 0.0, 1: 0.0})
    with refused(ErrorCode.BAD_WEIGHTS):
        chain.set_weights(chain.hotkey, {0: float("nan")})
    with pytest.raises(NotImplementedError, match="btcli"):
        chain.register(chain.hotkey)
    with pytest.raises(NotImplementedError):
        chain.emissions(0)
    with pytest.raises(NotImplementedError):
        chain.advance()
    chain.close()
    with pytest.raises(RuntimeError, match="closed"):
        chain.block()


@pytest.mark.parametrize(
    "error, invalid, code",
    [
        (bt.ChainError("x", "AccountNotAllowedCommit"), None, ErrorCode.NOT_REGISTERED),
        (bt.ChainError("x", "HotKeyNotRegisteredInSubNet"), None, ErrorCode.NOT_REGISTERED),
        (bt.ChainError("x", "SettingWeightsTooFast"), None, ErrorCode.RATE_LIMITED),
        (bt.ChainError("x", "CommittingWeightsTooFast"), None, ErrorCode.RATE_LIMITED),
        (bt.ChainError("x", "SpaceLimitExceeded"), None, ErrorCode.QUOTA_EXCEEDED),
        (bt.ChainError("x", "TooManyFieldsInCommitmentInfo"), None, ErrorCode.BAD_PAYLOAD),
        (bt.ChainError("x", "NeuronNoValidatorPermit"), None, ErrorCode.NO_VALIDATOR_PERMIT),
        (
            bt.ChainError("x", "UidVecContainInvalidOne"),
            ErrorCode.BAD_WEIGHTS,
            ErrorCode.BAD_WEIGHTS,
        ),
        (bt.ChainError("x", "UidVecContainInvalidOne"), None, ErrorCode.NETWORK),
        (bt.ChainError("x", "IncorrectWeightVersionKey"), None, ErrorCode.NETWORK),
        (bt.RpcConnectionError("down"), ErrorCode.BAD_WEIGHTS, ErrorCode.NETWORK),
        (ConnectionResetError("reset"), None, ErrorCode.NETWORK),
    ],
)
def test_error_translation(error, invalid, code):
    translated = translate(error, invalid)
    assert translated.code is code
    assert str(error) in str(translated)


def test_the_past_is_read_at_a_block_hash(fake, connect):
    chain = connect(MINER)
    assert chain.commit(chain.hotkey, b"first") == GENESIS
    fake.block += 5
    chain.commit(chain.hotkey, b"second")
    fake.block += 5
    assert chain.commitment_at(chain.hotkey, GENESIS + 4).payload == b"first"
    assert chain.commitment_at(chain.hotkey, GENESIS + 5).payload == b"second"
    assert chain.commitment_at(chain.hotkey, GENESIS - 1) is None
    assert chain.block_hash(GENESIS) == f"0x{GENESIS:064x}"  # the node's own hash
    with refused(ErrorCode.NETWORK):
        chain.block_hash(fake.block + 1)
