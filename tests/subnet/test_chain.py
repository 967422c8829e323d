"""One conformance suite for every chain, then what only the SQLite chain must do.

The chains start at block 0 with a stopped clock (the SQLite one at 0 blocks per second),
so only ``advance`` moves them and every block number below is exact.
"""

import contextlib
import os
import pathlib
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from hivejax._src.subnet import rules
from hivejax._src.subnet.chain import Commitment, Metagraph, Neuron
from hivejax._src.subnet.consensus import weighted_median, yuma
from hivejax._src.subnet.local_chain import LocalChain
from hivejax._src.subnet.memory_chain import MemoryChain
from hivejax._src.subnet.rules import ChainError, ErrorCode

CHAINS = {
    "memory": lambda tmp_path: MemoryChain(),
    "local": lambda tmp_path: LocalChain(tmp_path / "chain.sqlite", blocks_per_second=0.0),
}


@pytest.fixture(params=sorted(CHAINS))
def chain(request, tmp_path):
    return CHAINS[request.param](tmp_path)


def refused(code: ErrorCode):
    """Expect a ``ChainError`` with ``code``."""

    @contextlib.contextmanager
    def check():
        with pytest.raises(ChainError) as info:
            yield
        assert info.value.code is code, info.value

    return check()


# --- the conformance suite ---


def test_registration_gives_uids_in_order_and_is_idempotent(chain):
    assert chain.register("m0") == 0
    assert chain.register("v0", stake=5.0, validator=True) == 1
    assert chain.register("m0", stake=9.0, validator=True) == 0
    assert (chain.uid("m0"), chain.uid("v0"), chain.uid("nobody")) == (0, 1, None)
    assert chain.metagraph().neurons[0] == Neuron(0, "m0", 0.0, False, None)
    with pytest.raises(ValueError, match="hotkey"):
        chain.register("")
    with pytest.raises(ValueError, match="stake"):
        chain.register("m1", stake=-1.0)


def test_commit_and_set_weights_need_registration(chain):
    with refused(ErrorCode.NOT_REGISTERED):
        chain.commit("stranger", b"program")
    with refused(ErrorCode.NOT_REGISTERED):
        chain.set_weights("stranger", {0: 1.0})
    chain.register("m0")
    with refused(ErrorCode.NO_VALIDATOR_PERMIT):
        chain.set_weights("m0", {0: 1.0})
    assert chain.commitments() == {} and chain.weights() == {}


def test_payloads_of_1_to_384_bytes(chain):
    chain.register("m0")
    for size in (1, rules.MAX_PAYLOAD):
        chain.commit("m0", bytes([7]) * size)
        assert chain.commitments()["m0"].payload == bytes([7]) * size
    for size in (0, rules.MAX_PAYLOAD + 1):
        with refused(ErrorCode.BAD_PAYLOAD):
            chain.commit("m0", bytes(size))
    with refused(ErrorCode.BAD_PAYLOAD):
        chain.commit("m0", "text")


def test_quota_per_tempo(chain):
    chain.register("m0")
    chain.register("m1")
    fits = rules.QUOTA_BYTES_PER_TEMPO // 100
    assert fits == 31
    chain.advance(rules.TEMPO - 1)  # the last block of tempo 0 ...
    for i in range(fits):
        chain.commit("m0", bytes([i]) * 100)
    with refused(ErrorCode.QUOTA_EXCEEDED):
        chain.commit("m0", bytes(100))
    with refused(ErrorCode.QUOTA_EXCEEDED):
        chain.commit("m0", b"x")  # a tiny commit still costs 100 bytes
    assert chain.commitments()["m0"].payload == bytes([fits - 1]) * 100
    chain.commit("m1", bytes(100))  # the quota is per hotkey
    chain.advance(1)  # ... and the first of tempo 1
    chain.commit("m0", bytes(100))
    assert chain.commitments()["m0"].block == rules.TEMPO


def test_the_latest_write_wins_and_its_block_moves_on(chain):
    chain.register("m0")
    chain.register("m1")
    assert chain.commit("m0", b"first") == 0
    chain.advance(3)
    assert chain.commit("m1", b"other") == 3
    chain.advance(4)
    assert chain.commit("m0", b"second") == 7
    assert chain.commitments() == {
        "m0": Commitment("m0", 0, 7, b"second"),
        "m1": Commitment("m1", 1, 3, b"other"),
    }


def test_the_past_commitments_the_last_write_of_a_block_standing(chain):
    chain.register("m0")
    chain.commit("m0", b"first")
    chain.advance(5)
    chain.commit("m0", b"second")
    chain.commit("m0", b"third")  # the same block: the state at its end holds this one
    chain.advance(1)
    assert chain.commitment_at("m0", 4) == Commitment("m0", 0, 0, b"first")
    assert chain.commitment_at("m0", 5) == Commitment("m0", 0, 5, b"third")
    assert chain.commitment_at("m1", 5) is None
    with pytest.raises(ValueError, match="current 6"):
        chain.commitment_at("m0", 7)


def test_block_hashes_are_fixed_distinct_and_only_for_past_blocks(chain):
    chain.advance(3)
    hashes = [chain.block_hash(b) for b in range(4)]
    assert len(set(hashes)) == 4 and all(h.startswith("0x") and len(h) == 66 for h in hashes)
    assert chain.block_hash(2) == hashes[2]
    for bad in (4, -1, True, "2"):
        with pytest.raises(ValueError, match="block"):
            chain.block_hash(bad)


def test_the_block_hashes_come_from_the_chains_secret(tmp_path):
    assert MemoryChain().block_hash(0) != MemoryChain().block_hash(0)
    assert MemoryChain(secret=b"s").block_hash(0) == MemoryChain(secret=b"s").block_hash(0)
    path = tmp_path / "chain.sqlite"
    assert LocalChain(path).block_hash(0) == LocalChain(path).block_hash(0)  # every process


def test_weights_rate_limit(chain):
    chain.register("m0")
    chain.register("v0", stake=1.0, validator=True)
    chain.advance(5)
    chain.set_weights("v0", {0: 1.0})
    chain.advance(rules.WEIGHTS_RATE_LIMIT - 1)
    with refused(ErrorCode.RATE_LIMITED):
        chain.set_weights("v0", {0: 1.0, 1: 1.0})
    assert chain.weights() == {1: {0: 65535}}
    chain.advance(1)
    chain.set_weights("v0", {0: 1.0, 1: 1.0})
    assert chain.weights() == {1: {0: 65535, 1: 65535}}
    assert chain.metagraph().neurons[1].last_update == 5 + rules.WEIGHTS_RATE_LIMIT


def test_weights_are_stored_as_u16(chain):
    for hotkey in ("m0", "m1", "m2"):
        chain.register(hotkey)
    chain.register("v0", stake=1.0, validator=True)
    chain.set_weights("v0", {1: 0.5, 2: 2.0, 0: 0.0})
    assert chain.weights() == {3: {1: 16384, 2: 65535}}  # 0.25 * 65535 = 16383.75
    chain.advance(rules.WEIGHTS_RATE_LIMIT)
    with refused(ErrorCode.BAD_WEIGHTS):
        chain.set_weights("v0", {9: 1.0})  # nobody holds uid 9
    for bad in ({0: float("nan")}, {0: -1.0}, {-1: 1.0}, {"0": 1.0}, [1.0]):
        with refused(ErrorCode.BAD_WEIGHTS):
            chain.set_weights("v0", bad)
    chain.set_weights("v0", {0: 0.0})  # all zero: the validator now weighs nobody
    assert chain.weights() == {3: {}}


def test_metagraph(chain):
    chain.register("m0")
    chain.register("v0", stake=2.5, validator=True)
    chain.advance(42)
    chain.set_weights("v0", {0: 1.0})
    assert chain.tempo == rules.TEMPO
    assert chain.metagraph() == Metagraph(
        block=42,
        tempo=rules.TEMPO,
        neurons=(Neuron(0, "m0", 0.0, False, None), Neuron(1, "v0", 2.5, True, 42)),
    )
    assert chain.block() == 42


def test_advance(chain):
    assert chain.advance() == 1 and chain.advance(0) == 1 and chain.block() == 1
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="block count"):
            chain.advance(bad)


def test_emissions(chain):
    for hotkey in ("m0", "m1", "m2"):
        chain.register(hotkey)
    chain.register("v0", stake=3.0, validator=True)
    chain.register("v1", stake=1.0, validator=True)
    assert chain.emissions(0) == {h: 0.0 for h in ("m0", "m1", "m2", "v0", "v1")}
    chain.set_weights("v0", {0: 1.0, 1: 1.0})
    chain.set_weights("v1", {0: 1.0, 2: 1.0})
    tempo0 = chain.emissions(0)
    assert sum(tempo0.values()) == pytest.approx(1.0)
    assert tempo0["m0"] > tempo0["m1"] > tempo0["m2"] == 0.0  # m2 has only v1's minority
    chain.advance(rules.TEMPO)
    chain.set_weights("v0", {2: 1.0})
    chain.set_weights("v1", {2: 1.0})
    assert chain.emissions(0) == tempo0  # a past tempo keeps the weights it ended with
    assert chain.emissions(1)["m2"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="has not started"):
        chain.emissions(2)


def test_weight_history_and_shares(chain):
    for hotkey in ("m0", "m1"):
        chain.register(hotkey)
    chain.register("v0", stake=1.0, validator=True)
    chain.register("v1", stake=1.0, validator=True)
    assert chain.weight_history() == [] and chain.shares(0)["m0"] == 0.0
    chain.set_weights("v1", {0: 1.0})
    chain.set_weights("v0", {0: 1.0, 1: 1.0})
    chain.advance(rules.TEMPO)
    chain.set_weights("v0", {})  # all zero: a set with no rows still counts
    history = chain.weight_history()
    assert [(b, v) for b, v, _ in history] == [(0, 2), (0, 3), (rules.TEMPO, 2)]
    assert history[0][2] == {0: 65535, 1: 65535} and history[2][2] == {}
    # Shares at a block count the weights set at or before it; a tempo's emission is the
    # share at its last block.
    assert chain.shares(rules.TEMPO - 1) == chain.emissions(0)
    # v0 now abstains with half the stake, and it counts: v1's half alone pays nobody
    assert chain.shares(rules.TEMPO) == {"m0": 0.0, "m1": 0.0, "v0": 0.0, "v1": 0.0}
    with pytest.raises(ValueError, match="block"):
        chain.shares(-1)


# --- consensus and rules, as pure functions ---


def test_consensus_clips_an_outlier_validator():
    # Two large validators split their weight between miners 1 and 2; a small one gives
    # everything to its favourite, miner 3, which no majority of stake weighs.
    weights = {10: {1: 1.0, 2: 1.0}, 11: {1: 2.0, 2: 2.0}, 12: {3: 5.0}}
    stake = {10: 45.0, 11: 45.0, 12: 10.0}
    shares = yuma(weights, stake)
    assert shares == {1: pytest.approx(0.5), 2: pytest.approx(0.5), 3: 0.0}
    # Without clipping, the stake-weighted sum would have paid miner 3 a tenth.
    assert sum(stake[v] * row.get(3, 0) / sum(row.values()) for v, row in weights.items()) == 10


def test_consensus_edge_cases():
    assert yuma({}, {}) == {}
    assert yuma({0: {5: 0.0}}, {0: 1.0}) == {5: 0.0}
    assert yuma({0: {5: 1.0}, 1: {6: 1.0}}, {0: 0.0, 1: 0.0}) == {5: 0.0, 6: 0.0}
    assert yuma({0: {5: 1.0}}, {0: 0.0}) == {5: 1.0}  # stake-less validators count equally
    # Abstaining stake counts: 1% of the stake cannot decide a tempo alone.
    assert yuma({0: {5: 1.0}}, {0: 1.0, 1: 99.0}) == {5: 0.0}
    assert yuma({0: {5: 1.0}, 1: {}}, {0: 51.0, 1: 49.0}) == {5: 1.0}
    assert weighted_median(np.zeros(0), np.zeros(0)) == 0.0
    with pytest.raises(ValueError, match="no stake"):
        yuma({0: {5: 1.0}}, {})
    with pytest.raises(ValueError, match="not finite"):
        yuma({0: {5: float("inf")}}, {0: 1.0})


def test_fields_split_and_join():
    payload = bytes(range(256)) + bytes(100)
    fields = rules.split_fields(payload)
    assert [len(f) for f in fields] == [128, 128, 100]
    assert rules.join_fields(fields) == payload
    for bad in ([], [b""], [bytes(129)], [b"a"] * 4):
        with pytest.raises(ChainError):
            rules.join_fields(bad)
    assert (rules.commit_cost(b"a"), rules.commit_cost(bytes(250))) == (100, 250)


def test_normalize_weights():
    assert rules.normalize_weights({}) == {}
    assert rules.normalize_weights({3: 0.0, 1: 0.0}) == {}
    assert rules.normalize_weights({2: 1e-9, 1: 3.0, 0: 1.5}) == {0: 32768, 1: 65535}
    assert rules.normalize_weights({4: 7}) == {4: 65535}
    for bad in ({0: float("inf")}, {0: -0.5}, {True: 1.0}, {0: "1"}):
        with refused(ErrorCode.BAD_WEIGHTS):
            rules.normalize_weights(bad)


# --- the SQLite chain ---

WRITER = """
import pathlib, sys, time
from hivejax._src.subnet.local_chain import LocalChain
path, name, go = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
chain = LocalChain(path)
pathlib.Path(f"{go}.{name}").touch()
while not go.exists():
    time.sleep(0.005)
for i in range(20):
    chain.commit(f"{name}-{i}", f"{name}:{i}".encode())
"""


def _wait_for(paths, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        assert time.monotonic() < deadline, "the writers never got ready"
        time.sleep(0.01)


def test_two_processes_commit_at_once(tmp_path):
    path, go = tmp_path / "chain.sqlite", tmp_path / "go"
    chain = LocalChain(path, blocks_per_second=0.0)
    names = ("a", "b")
    for name in names:
        for i in range(20):
            chain.register(f"{name}-{i}")
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, str(go)], env=env)
        for name in names
    ]
    try:
        _wait_for([pathlib.Path(f"{go}.{name}") for name in names])
        go.touch()  # both start committing together
        assert [p.wait(timeout=60) for p in procs] == [0, 0]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    got = {h: c.payload for h, c in chain.commitments().items()}
    assert got == {f"{n}-{i}": f"{n}:{i}".encode() for n in names for i in range(20)}


def test_reopening_keeps_everything(tmp_path):
    path = tmp_path / "chain.sqlite"
    chain = LocalChain(path, blocks_per_second=0.0, genesis_block=100)
    chain.register("m0")
    chain.register("v0", stake=1.0, validator=True)
    chain.advance(7)
    chain.commit("m0", b"program")
    chain.set_weights("v0", {0: 1.0})
    again = LocalChain(path)
    assert again.block() == 107
    assert again.metagraph() == chain.metagraph()
    assert again.commitments() == {"m0": Commitment("m0", 0, 107, b"program")}
    assert again.weights() == {1: {0: 65535}}
    assert again.commitment_at("m0", 107) == Commitment("m0", 0, 107, b"program")
    again.advance(3)
    assert chain.block() == 110  # every process sees an advance
    with pytest.raises(ValueError, match="blocks_per_second"):
        LocalChain(path, blocks_per_second=1.0)
    with pytest.raises(ValueError, match="genesis_block"):
        LocalChain(path, genesis_block=0)


def test_a_file_that_is_no_chain_is_refused(tmp_path):
    other = tmp_path / "other.sqlite"
    with contextlib.closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
        conn.commit()
    with pytest.raises(ValueError, match=str(other)):
        LocalChain(other)
    with contextlib.closing(sqlite3.connect(other)) as conn:  # and it was left alone
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
        assert tables == ["notes"]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal"

    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database\n" * 100)
    with pytest.raises(ValueError, match=str(garbage)):
        LocalChain(garbage)

    newer = tmp_path / "newer.sqlite"
    LocalChain(newer)
    with contextlib.closing(sqlite3.connect(newer)) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'version'")
        conn.commit()
    with pytest.raises(ValueError, match="version 99"):
        LocalChain(newer)


def test_the_file_is_in_wal_mode(tmp_path):
    path = tmp_path / "chain.sqlite"
    LocalChain(path)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_blocks_follow_the_clock(tmp_path):
    chain = LocalChain(tmp_path / "chain.sqlite", blocks_per_second=50.0)
    start = chain.block()
    time.sleep(0.1)
    assert chain.block() > start
