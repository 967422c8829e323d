"""The neurons in one process on an in-memory chain: what a validator pays, what it refuses,
what it remembers across restarts, and when a miner publishes.

The optimizer task under ``local-optimizer`` gives a clear winner: Lion beats the Adam
baseline by about 0.03 (lower bound about 0.016) in 100 steps, and heavy-ball SGD loses by
about 0.06, so weights are not all zero and a change to an honest weight would show.
"""

import logging

import pytest
from programs import CE, instructions

from hivejax._src.evaluation.protocols import get_protocol
from hivejax._src.program.program import make_program
from hivejax._src.subnet import rules
from hivejax._src.subnet.commitment import encode
from hivejax._src.subnet.memory_chain import MemoryChain
from hivejax._src.subnet.miner import Miner, MinerConfig
from hivejax._src.subnet.reveal import make_hash_commitment, make_reveal, new_salt
from hivejax._src.subnet.rules import ChainError, ErrorCode
from hivejax._src.subnet.validator import Validator, ValidatorConfig
from hivejax._src.tasks.registry import builtin, builtin_spec

PROTOCOL = get_protocol("local-optimizer")
SPEC = builtin_spec("adam")
LION, LION_CONSTS = instructions("lion")
RENAMES = {"r3": "r6", "r4": "r5"}


def lion_copies() -> dict:
    """Lion as a copier would disguise it: each edit leaves the update rule's direction."""
    renamed = [tuple(RENAMES.get(x, x) for x in ins) for ins in LION]
    dead = [("r7", "exp", "g", "p"), *LION, ("r6", "sin", "r0", "g")]
    scaled = [*LION, ("r0", "mul", "r0", "c5")]
    return {
        "unchanged": builtin("lion"),
        "renamed": make_program(SPEC, renamed, LION_CONSTS),
        "dead_code": make_program(SPEC, dead, LION_CONSTS),
        "scaled": make_program(SPEC, scaled, [*LION_CONSTS[:5], 2.5]),
    }


def payload(program, spec=SPEC, task="optimizer", version=PROTOCOL.version) -> bytes:
    return encode(task, version, spec, program)


def publish(chain, validators, hotkey: str, data: bytes, delay: int = 2) -> int:
    """Commit-reveal as a miner does it: the hash, the validators read it, the reveal.
    Returns the hash's block."""
    salt = new_salt()
    block = chain.commit(hotkey, make_hash_commitment(data, salt))
    for v in validators if isinstance(validators, tuple) else (validators,):
        v.watch()
    chain.advance(delay)
    chain.commit(hotkey, make_reveal(data, salt))
    chain.advance(1)
    return block


def subnet(tmp_path, name="v", miners=("alice", "bob")):
    chain = MemoryChain()
    chain.register("validator", stake=1.0, validator=True)
    for m in miners:
        chain.register(m)
    validator = Validator(chain, "validator", tmp_path / name, ValidatorConfig(protocol=PROTOCOL))
    return chain, validator


def honest(chain, validator) -> None:
    publish(chain, validator, "alice", payload(builtin("lion")))
    publish(chain, validator, "bob", payload(builtin("sgd_momentum")))


def test_copies_broken_programs_and_bad_payloads_earn_nothing_and_move_no_honest_weight(tmp_path):
    chain, validator = subnet(tmp_path / "clean")
    honest(chain, validator)
    clean = validator.step()
    assert clean.scores.ranking == ("alice",)
    assert clean.scores.weights == {1: 1.0, 2: 0.0}
    assert clean.entries["bob"].reason == "no_gain"

    copies = lion_copies()
    broken = {
        # updates of 5e34: the parameters overflow and training goes NaN
        "nan": make_program(SPEC, [("r3", "exp", "c0", "c0"), ("r0", "mul", "g", "r3")], [80.0]),
        "constant": make_program(SPEC, [("r0", "mul", "p", "c0")], [0.01]),
    }
    good = payload(builtin("lion"))
    bad_payloads = {
        "truncated": good[:-3],
        "unknown_op": good[:-40] + bytes([255]) + good[-39:],
        "malformed": b"HJC\x01\x02" + good[5:11] + b"\xff" * 30,
        "wrong_protocol": payload(builtin("lion"), version="ba9876543210"),
    }
    adversaries = [*copies, *broken, *bad_payloads, "plain", "spammer"]
    chain, validator = subnet(tmp_path / "attacked", miners=("alice", "bob", *adversaries))
    honest(chain, validator)
    for name, program in {**copies, **broken}.items():
        publish(chain, validator, name, payload(program))
    for name, data in bad_payloads.items():
        publish(chain, validator, name, data)
    chain.commit("plain", good)  # a program committed without its hash first
    with pytest.raises(ChainError) as e:
        chain.commit("spammer", good + bytes(rules.MAX_PAYLOAD))
    assert e.value.code is ErrorCode.BAD_PAYLOAD  # oversized: the chain refuses it
    report = validator.step()

    assert report.scores.ranking == ("alice",)
    assert {1: 1.0, 2: 0.0}.items() <= report.scores.weights.items()
    assert sum(report.scores.weights.values()) == pytest.approx(1.0)
    for name in copies:
        assert report.entries[name].reason == "copy", name
        assert report.entries[name].fingerprint == report.entries["alice"].fingerprint
    assert report.entries["nan"].reason in ("broken", "non_finite")
    assert report.entries["constant"].reason == "constant"
    assert report.entries["truncated"].state == "bad_program"
    assert report.entries["unknown_op"].state == "bad_program"
    assert report.entries["malformed"].state == "bad_program"
    assert report.entries["wrong_protocol"].state == "wrong_protocol"
    assert report.entries["plain"].state == "bad_magic"
    assert "spammer" not in report.entries
    assert chain.weights() == {0: {1: rules.U16_MAX}}


def test_a_loss_plus_a_constant_is_a_copy(tmp_path):
    protocol = get_protocol("local-loss")
    spec = builtin_spec("cross_entropy")
    chain = MemoryChain()
    chain.register("validator", stake=1.0, validator=True)
    for m in ("alice", "copier"):
        chain.register(m)
    v = Validator(chain, "validator", tmp_path, ValidatorConfig(protocol=protocol))
    shifted = make_program(spec, [*CE, ("r0", "add", "r0", "c0")], [3.7])
    publish(chain, v, "alice", payload(make_program(spec, CE), spec, "loss", protocol.version))
    publish(chain, v, "copier", payload(shifted, spec, "loss", protocol.version))
    report = v.step()
    assert report.entries["copier"].reason == "copy"
    assert report.entries["copier"].fingerprint == report.entries["alice"].fingerprint
    assert report.scores.weights[2] == 0.0


def test_the_quota_holds_a_miner_that_commits_every_block(tmp_path):
    chain, validator = subnet(tmp_path, miners=("alice", "bob", "spammer"))
    honest(chain, validator)
    commits = 0
    with pytest.raises(ChainError) as e:
        for _ in range(rules.TEMPO):
            chain.commit("spammer", make_hash_commitment(payload(builtin("lion")), new_salt()))
            commits += 1
            chain.advance(1)
    assert e.value.code is ErrorCode.QUOTA_EXCEEDED
    assert commits == rules.QUOTA_BYTES_PER_TEMPO // rules.MIN_COMMIT_COST
    validator.watch()
    report = validator.step()
    assert report.entries["spammer"].state == "hash"
    assert report.scores.weights == {1: 1.0, 2: 0.0}


def test_a_restarted_validator_repeats_no_evaluation_and_forgets_no_priority(tmp_path, caplog):
    chain, validator = subnet(tmp_path, miners=("alice", "bob", "copier"))
    other = Validator(chain, "validator", tmp_path / "other", validator.config)
    both = (validator, other)
    first = publish(chain, both, "alice", payload(builtin("lion")))
    publish(chain, both, "bob", payload(builtin("sgd_momentum")))
    before = validator.step()
    fp = before.entries["alice"].fingerprint
    assert before.entries["alice"].priority_block == first

    # alice re-commits an equivalent program later; a copier commits hers
    chain.advance(50)
    publish(chain, both, "alice", payload(lion_copies()["renamed"]))
    publish(chain, both, "copier", payload(builtin("lion")))
    caplog.set_level(logging.INFO, logger="hivejax.validator")
    caplog.clear()
    restarted = Validator(chain, "validator", validator.directory, validator.config)
    after = restarted.step()
    assert "evaluating" not in caplog.text  # the same epoch: every evaluation is stored
    assert after.entries["alice"].priority_block == first
    assert restarted.ledger.owner(fp) == "alice"
    assert after.entries["copier"].reason == "copy"
    assert after.scores.weights == {1: 1.0, 2: 0.0, 3: 0.0}
    # a second validator that read the same chain history sets the same weights
    assert other.step().scores == after.scores


def test_each_epoch_re_evaluates_only_the_top_on_its_seeds(tmp_path, caplog):
    chain, validator = subnet(tmp_path)
    honest(chain, validator)
    report = validator.step()
    lion, sgd = report.entries["alice"].fingerprint, report.entries["bob"].fingerprint
    chain.advance(validator.config.epoch_blocks)
    caplog.set_level(logging.INFO, logger="hivejax.validator")
    caplog.clear()
    report = validator.step()
    assert report.epoch == 1 and report.entries["alice"].epoch == 1
    assert report.entries["bob"].epoch == 0
    assert "evaluating 1 program(s) on the seeds of epoch 1" in caplog.text
    version = PROTOCOL.version
    assert validator.ledger.get_evaluation(lion, 1, version) is not None
    assert validator.ledger.get_evaluation(sgd, 1, version) is None
    assert report.scores.ranking == ("alice",)


class FlakyChain(MemoryChain):
    """A chain whose first ``failures`` weight sets fail as a dropped connection would."""

    def __init__(self, failures: int):
        super().__init__()
        self.failures = failures

    def set_weights(self, hotkey, weights):
        if self.failures:
            self.failures -= 1
            raise ChainError(ErrorCode.NETWORK, "connection reset")
        super().set_weights(hotkey, weights)


def test_weights_are_retried_with_backoff_and_rate_limited(tmp_path):
    chain = FlakyChain(failures=2)
    chain.register("validator", stake=1.0, validator=True)
    for m in ("alice", "bob"):
        chain.register(m)
    waits = []
    config = ValidatorConfig(protocol=PROTOCOL)
    validator = Validator(chain, "validator", tmp_path, config, sleep=waits.append)
    honest(chain, validator)
    report = validator.step()
    assert report.weights_set and waits == [1.0, 2.0]
    assert chain.weights() == {0: {1: rules.U16_MAX}}
    assert not validator.step().weights_set  # within the rate limit: nothing is sent
    chain.advance(rules.WEIGHTS_RATE_LIMIT)
    assert validator.step().weights_set


@pytest.mark.slow  # 93 s: whole miner rounds
def test_a_miner_publishes_only_a_program_that_would_lead(tmp_path, caplog):
    chain, validator = subnet(tmp_path / "v")

    def wait(_seconds):  # the chain stands still until a miner's wait moves it
        validator.watch()
        chain.advance(1)

    def miner(hotkey, seed_program):
        config = MinerConfig(
            protocol=PROTOCOL, population=8, generations=2, seed_programs=(seed_program,)
        )
        return Miner(chain, hotkey, tmp_path / hotkey, config, sleep=wait)

    caplog.set_level(logging.INFO, logger="hivejax.miner")
    alice = miner("alice", "builtin:lion")
    decision = alice.step()
    assert decision["committed"] and decision["reason"] == "leads"
    assert alice.state["publish"]["reveal_block"] > alice.state["publish"]["hash_block"]
    report = validator.step()
    assert report.scores.ranking == ("alice",)
    assert "committed the hash" in caplog.text and "revealed" in caplog.text

    bob = miner("bob", "builtin:sgd_momentum")
    decision = bob.step()  # bob's search starts from alice's program too: at best a copy
    assert not decision["committed"]
    assert decision["reason"] in ("copy", "no_gain") or "margin" in decision["reason"]
    assert "bob" not in chain.commitments()
    decision = alice.step()
    assert not decision["committed"]
    assert decision["reason"] == "already published" or "margin" in decision["reason"]
    assert validator.step().scores.ranking == ("alice",)
