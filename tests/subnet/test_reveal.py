"""Commit-reveal: a reveal counts only after its hash, from the same hotkey, in an earlier
block; the hash's block is the priority; hostile bytes are rejected, never raised."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hivejax._src.subnet import reveal
from hivejax._src.subnet.commitment import Decoded, Rejected, decode, encode
from hivejax._src.subnet.ledger import Ledger
from hivejax._src.subnet.memory_chain import MemoryChain
from hivejax._src.subnet.reveal import (
    HASH_COMMIT_BYTES,
    MAX_REVEALED,
    REASONS,
    Accepted,
    HashCommit,
    Reveal,
    make_hash_commitment,
    make_reveal,
    observe,
    parse,
)
from hivejax._src.subnet.rules import MAX_PAYLOAD, split_fields
from hivejax._src.tasks.registry import builtin, builtin_spec

VERSION = "0123456789ab"
SALT = bytes(range(16))


def payload_of(name: str) -> bytes:
    return encode("loss", VERSION, builtin_spec(name), builtin(name))


@pytest.fixture
def ledger(tmp_path):
    return Ledger(tmp_path / "ledger.sqlite")


def test_hash_and_reveal_round_trip():
    payload = payload_of("cross_entropy")
    hashed = parse(make_hash_commitment(payload, SALT, "m"))
    revealed = parse(make_reveal(payload, SALT, 5))
    assert isinstance(hashed, HashCommit) and isinstance(revealed, Reveal)
    assert len(make_hash_commitment(payload, SALT, "m")) == HASH_COMMIT_BYTES
    assert (revealed.payload, revealed.salt, revealed.hash_block) == (payload, SALT, 5)
    assert revealed.digest_for("m") == hashed.digest
    assert parse(make_reveal(payload, reveal.new_salt(), 5)).digest_for("m") != hashed.digest
    assert revealed.digest_for("n") != hashed.digest  # the digest names the hotkey
    # a hotkey that is a prefix of another cannot shift bytes between hotkey and salt
    assert make_hash_commitment(payload, SALT, "local/miner-1") != make_hash_commitment(
        payload[1:], bytes([payload[0]]) + SALT[:15], "local/miner-10"
    )


def test_the_largest_reveal_fits_one_commitment():
    largest = make_reveal(bytes(MAX_REVEALED), SALT, 2**32 - 1)
    assert len(largest) == MAX_PAYLOAD and len(split_fields(largest)) == 3
    with pytest.raises(ValueError, match="1 to 360"):
        make_reveal(bytes(MAX_REVEALED + 1), SALT, 0)
    with pytest.raises(ValueError, match="1 to 360"):
        make_hash_commitment(b"", SALT, "m")
    with pytest.raises(ValueError, match="16 bytes"):
        make_hash_commitment(b"x", SALT[:8], "m")
    with pytest.raises(ValueError, match="hotkey"):
        make_hash_commitment(b"x", SALT, "")


def test_new_salts_are_random():
    salts = {reveal.new_salt() for _ in range(8)}
    assert len(salts) == 8 and all(len(s) == 16 for s in salts)


def test_priority_is_the_block_of_the_hash(ledger):
    payload = payload_of("focal")
    assert isinstance(
        observe(ledger, "honest", 100, make_hash_commitment(payload, SALT, "honest")), HashCommit
    )
    # seen again at a later poll (the chain still holds it): the first block stands
    observe(ledger, "honest", 100, make_hash_commitment(payload, SALT, "honest"))
    assert observe(ledger, "honest", 130, make_reveal(payload, SALT, 100)) == Accepted(payload, 100)
    assert observe(ledger, "honest", 131, make_reveal(payload, SALT, 100)) == Accepted(payload, 100)


def test_a_copier_cannot_reuse_the_owners_reveal(ledger):
    payload = payload_of("focal")
    observe(ledger, "honest", 100, make_hash_commitment(payload, SALT, "honest"))
    observe(ledger, "honest", 130, make_reveal(payload, SALT, 100))
    # the copier replays the reveal: it never committed the hash
    got = observe(ledger, "copier", 131, make_reveal(payload, SALT, 100))
    assert isinstance(got, Rejected) and got.reason == "unknown_hash"
    # it commits the hash now and reveals later: accepted, but with a later priority
    observe(ledger, "copier", 132, make_hash_commitment(payload, SALT, "copier"))
    got = observe(ledger, "copier", 140, make_reveal(payload, SALT, 132))
    assert got == Accepted(payload, 132)


def test_a_copy_of_the_hash_in_the_same_block_does_not_steal_the_reveal(ledger):
    payload = payload_of("focal")
    hashed = make_hash_commitment(payload, SALT, "zed")
    observe(ledger, "zed", 100, hashed)
    observe(ledger, "aaa", 100, hashed)  # the victim's hash bytes, copied into its block
    assert observe(ledger, "zed", 110, make_reveal(payload, SALT, 100)) == Accepted(payload, 100)
    got = observe(ledger, "aaa", 111, make_reveal(payload, SALT, 100))  # the replayed reveal
    assert isinstance(got, Rejected) and got.reason == "unknown_hash"


def test_a_hash_cannot_be_banked(ledger):
    payload = payload_of("focal")
    observe(ledger, "m", 100, make_hash_commitment(payload, SALT, "m"))
    last = 100 + reveal.REVEAL_WINDOW
    assert observe(ledger, "m", last, make_reveal(payload, SALT, 100)) == Accepted(payload, 100)
    got = observe(ledger, "m", last + 1, make_reveal(payload, SALT, 100))
    assert isinstance(got, Rejected) and got.reason == "expired"


def test_a_validator_that_never_saw_the_hash_reads_it_from_the_chains_history(ledger):
    # started late, or lost its ledger: the reveal names its hash's block, and the chain
    # shows what the hotkey held there
    chain = MemoryChain()
    for hotkey in ("honest", "copier"):
        chain.register(hotkey)
    payload = payload_of("focal")
    chain.advance(100)
    chain.commit("honest", make_hash_commitment(payload, SALT, "honest"))
    chain.advance(5)
    chain.commit("honest", make_reveal(payload, SALT, 100))
    chain.commit("copier", make_hash_commitment(payload, SALT, "copier"))  # after the reveal
    chain.advance(3)
    history = chain.commitment_at
    lost = Ledger(ledger.path.parent / "lost.sqlite")
    got = observe(lost, "honest", 105, make_reveal(payload, SALT, 99), history)  # a lie
    assert isinstance(got, Rejected) and got.reason == "unknown_hash"
    got = observe(lost, "honest", 105, make_reveal(payload, SALT, 100))  # no history read
    assert isinstance(got, Rejected) and got.reason == "unknown_hash"
    got = observe(lost, "honest", 105, make_reveal(payload, SALT, 100), history)
    assert got == Accepted(payload, 100)
    digest = parse(make_reveal(payload, SALT, 0)).digest_for("honest").hex()
    assert lost.hash_block("honest", digest) == 100  # recorded: the next read needs none
    for named in (100, 104):  # a copier's claims of an earlier hash are checked
        got = observe(lost, "copier", 108, make_reveal(payload, SALT, named), history)
        assert isinstance(got, Rejected) and got.reason == "unknown_hash", named
    got = observe(lost, "copier", 108, make_reveal(payload, SALT, 105), history)
    assert got == Accepted(payload, 105)  # its own hash: after the honest one


def test_a_reveal_in_the_block_of_its_hash_is_refused(ledger):
    payload = payload_of("mse")
    observe(ledger, "m", 50, make_hash_commitment(payload, SALT, "m"))
    got = observe(ledger, "m", 50, make_reveal(payload, SALT, 50))
    assert isinstance(got, Rejected) and got.reason == "not_earlier"


def test_a_reveal_with_another_salt_does_not_match(ledger):
    payload = payload_of("mse")
    observe(ledger, "m", 50, make_hash_commitment(payload, SALT, "m"))
    got = observe(ledger, "m", 60, make_reveal(payload, bytes(16), 50))
    assert isinstance(got, Rejected) and got.reason == "unknown_hash"


def _with(data: bytes, index: int, value: int) -> bytes:
    return data[:index] + bytes([value]) + data[index + 1 :]


REJECTIONS = {
    "not_bytes": lambda: "HJH",
    "empty": lambda: b"",
    "too_large": lambda: make_reveal(bytes(MAX_REVEALED), SALT, 0) + b"x",
    "bad_magic": lambda: b"HJC" + make_reveal(b"x", SALT, 0)[3:],
    "truncated": lambda: make_reveal(b"x", SALT, 0)[:-1],
    "bad_version": lambda: _with(make_reveal(b"x", SALT, 0), 3, 2),  # no hash block
    "bad_length": lambda: make_hash_commitment(b"x", SALT, "m")[:-1],
}


@pytest.mark.parametrize("reason", sorted(REJECTIONS))
def test_each_rejection_has_its_reason(reason):
    got = parse(REJECTIONS[reason]())
    assert isinstance(got, Rejected) and got.reason == reason, got
    assert got.reason in REASONS and (got.reason == "empty" or got.detail)


def test_every_reason_is_tested():
    assert set(REASONS) == set(REJECTIONS) | {"unknown_hash", "not_earlier", "expired"}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=MAX_PAYLOAD + 16))
def test_random_bytes_never_raise(data):
    got = parse(data)
    assert isinstance(got, HashCommit | Reveal | Rejected)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([b"HJH\x03", b"HJR\x03"]), st.binary(max_size=MAX_PAYLOAD))
def test_a_valid_header_before_random_bytes_never_raises(header, tail):
    got = parse(header + tail)
    assert isinstance(got, HashCommit | Reveal | Rejected)


def _intake(ledger: Ledger, hotkey: str, payload: bytes) -> Decoded | Rejected:
    """What a validator does with one miner's hidden payload: hash, reveal, decode."""
    observe(ledger, hotkey, 10, make_hash_commitment(payload, SALT, hotkey))
    got = observe(ledger, hotkey, 20, make_reveal(payload, SALT, 10))
    return decode(got.payload) if isinstance(got, Accepted) else got


def _unknown_op(payload: bytes) -> bytes:
    # commitment header (11) + program magic and version (5) + inputs x, y (5) + spec (3)
    # + length (1): the first op code
    return _with(payload, 25, 250)


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p[:-3], "bad_program"),  # truncated
        (lambda p: b"HJX" + p[3:], "bad_magic"),  # malformed
        (lambda p: p[:11] + b"\xff" * 40, "bad_program"),  # malformed program bytes
        (_unknown_op, "bad_program"),
    ],
)
def test_bad_payloads_behind_a_valid_reveal_are_rejected(ledger, make, reason):
    got = _intake(ledger, "m", make(payload_of("mse")))
    assert isinstance(got, Rejected) and got.reason == reason, got
    if make is _unknown_op:
        assert "op: 250 is outside" in got.detail
    assert isinstance(_intake(ledger, "n", payload_of("mse")), Decoded)


def test_an_oversized_reveal_is_rejected_without_raising(ledger):
    data = make_reveal(bytes(MAX_REVEALED), SALT, 10) + b"x"
    got = observe(ledger, "m", 20, data)
    assert isinstance(got, Rejected) and got.reason == "too_large"
