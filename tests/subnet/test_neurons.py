"""The neurons in one process on an in-memory chain: what a validator pays, what it refuses,
what it remembers across restarts, and when a miner publishes.

The optimizer task under ``PROTOCOL`` (``local-optimizer`` with 16 hidden units rather than
128, whose runs take a fifth of the time) gives a clear winner: Lion beats the Adam baseline
by about 0.03 (lower bound about 0.02) in 100 steps, and heavy-ball SGD loses by about 0.05,
so weights are not all zero and a change to an honest weight would show. It keeps the MLP
because a hidden layer is what lets an update rule break training (a linear model's logits
stay finite however large its weights). Compiling its training takes half a minute on two
cores: the tests that train under it share one compilation (``trained``).
"""

import dataclasses
import logging

import jax
import numpy as np
import pytest
from programs import CE, TINY_LOSS, instructions

from hivejax._src.evaluation.protocols import get_protocol
from hivejax._src.evaluation.scores import summarize
from hivejax._src.io.program_io import load_program
from hivejax._src.program.formula import formula
from hivejax._src.program.program import make_program, stack_programs
from hivejax._src.subnet import reveal, rules
from hivejax._src.subnet.candidates import evaluate
from hivejax._src.subnet.commitment import encode
from hivejax._src.subnet.copier import REVEAL_AFTER, Copier, near_copy
from hivejax._src.subnet.memory_chain import MemoryChain
from hivejax._src.subnet.miner import NEW, Miner, MinerConfig
from hivejax._src.subnet.reveal import make_hash_commitment, make_reveal, new_salt
from hivejax._src.subnet.rules import ChainError, ErrorCode
from hivejax._src.subnet.scoring import cell, score
from hivejax._src.subnet.validator import Validator, ValidatorConfig
from hivejax._src.tasks.registry import builtin, builtin_spec

SHIPPED = get_protocol("local-optimizer")
PROTOCOL = dataclasses.replace(
    SHIPPED, name="small-optimizer", train=dataclasses.replace(SHIPPED.train, hidden=16)
)
SPEC = builtin_spec("adam")
LION, LION_CONSTS = instructions("lion")
RENAMES = {"r3": "r6", "r4": "r5"}


@pytest.fixture(scope="module")
def trained() -> dict:
    """Lion's and heavy-ball SGD's evaluations under ``PROTOCOL`` on the seeds of the hash ``0x0``.

    The first evaluation compiles the protocol's training, most of what a test here costs;
    every test that trains under ``PROTOCOL`` asks for this fixture, so they share that one
    compilation (JAX keeps it until the conftest frees it at the end of the module).
    """
    names = ("lion", "sgd_momentum")
    found = evaluate(PROTOCOL, stack_programs([builtin(n) for n in names]), "0x0", spec=SPEC)
    return dict(zip(names, found, strict=True))


def test_the_protocol_has_a_clear_winner_and_a_clear_loser(trained):
    lion = summarize(trained["lion"].improvements, PROTOCOL.confidence)
    sgd = summarize(trained["sgd_momentum"].improvements, PROTOCOL.confidence)
    assert cell(lion["lower_bound"]) >= 1 and lion["mean"] > 0.02  # it earns
    assert sgd["mean"] < -0.03
    assert not trained["lion"].broken and not trained["sgd_momentum"].broken


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
    block = chain.commit(hotkey, make_hash_commitment(data, salt, hotkey))
    for v in validators if isinstance(validators, tuple) else (validators,):
        v.watch()
    chain.advance(delay)
    chain.commit(hotkey, make_reveal(data, salt, block))
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


@pytest.mark.usefixtures("trained")
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
    # a copy is a copy under any protocol: the smallest compiles fastest
    protocol = TINY_LOSS
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


@pytest.mark.usefixtures("trained")
def test_the_quota_holds_a_miner_that_commits_every_block(tmp_path):
    chain, validator = subnet(tmp_path, miners=("alice", "bob", "spammer"))
    honest(chain, validator)
    commits = 0
    with pytest.raises(ChainError) as e:
        for _ in range(rules.TEMPO):
            chain.commit(
                "spammer", make_hash_commitment(payload(builtin("lion")), new_salt(), "spammer")
            )
            commits += 1
            chain.advance(1)
    assert e.value.code is ErrorCode.QUOTA_EXCEEDED
    assert commits == rules.QUOTA_BYTES_PER_TEMPO // rules.MIN_COMMIT_COST
    validator.watch()
    report = validator.step()
    assert report.entries["spammer"].state == "hash"
    assert report.scores.weights == {1: 1.0, 2: 0.0}


@pytest.mark.usefixtures("trained")
def test_a_restarted_validator_repeats_no_evaluation_and_forgets_no_priority(tmp_path, caplog):
    chain, validator = subnet(tmp_path, miners=("alice", "bob", "copier"))
    other = Validator(chain, "validator", tmp_path / "other", validator.config)
    both = (validator, other)
    first = publish(chain, both, "alice", payload(builtin("lion")))
    publish(chain, both, "bob", payload(builtin("sgd_momentum")))
    before = validator.step()
    fp = before.entries["alice"].fingerprint
    assert before.entries["alice"].priority_block == first
    caplog.set_level(logging.INFO, logger="hivejax.validator")
    caplog.clear()
    restarted = Validator(chain, "validator", validator.directory, validator.config)
    assert restarted.step().scores == before.scores
    assert "evaluating" not in caplog.text  # every evaluation is stored

    # alice re-commits an equivalent program later; a copier commits hers
    chain.advance(50)
    publish(chain, both, "alice", payload(lion_copies()["renamed"]))
    publish(chain, both, "copier", payload(builtin("lion")))
    restarted = Validator(chain, "validator", validator.directory, validator.config)
    after = restarted.step()
    assert after.entries["alice"].priority_block == first
    assert restarted.ledger.owner(fp) == "alice"
    assert after.entries["copier"].reason == "copy"
    assert after.scores.weights == {1: 1.0, 2: 0.0, 3: 0.0}
    # a second validator that read the same chain history sets the same weights
    assert other.step().scores == after.scores


@pytest.mark.usefixtures("trained")
def test_a_validator_that_started_late_pays_whom_one_that_watched_pays(tmp_path):
    # It never saw a hash (the same as one that lost its ledger): the reveals name their
    # hashes' blocks, and the chain's history confirms them.
    chain, validator = subnet(tmp_path, miners=("alice", "bob", "aaa"))
    publish(chain, validator, "alice", payload(builtin("lion")))
    publish(chain, validator, "bob", payload(builtin("sgd_momentum")))
    publish(chain, validator, "aaa", payload(builtin("lion")))  # a copier, sorting first
    watched = validator.step()
    late = Validator(chain, "validator", tmp_path / "late", validator.config).step()
    assert late.scores == watched.scores and watched.scores.ranking == ("alice",)
    for hotkey in ("alice", "bob", "aaa"):
        assert late.entries[hotkey] == watched.entries[hotkey], hotkey
    assert late.entries["aaa"].reason == "copy"


@pytest.mark.usefixtures("trained")
def test_no_program_is_scored_on_seeds_it_could_know(tmp_path, caplog):
    # Seed tuning: the first block of an epoch is public once the epoch starts, so a
    # program committed later could be tuned to seeds derived from it. Its evaluations use
    # the hash of a block after its own hash, and the paid seeds move past it.
    chain, validator = subnet(tmp_path)
    epoch = validator.config.epoch_blocks
    chain.advance(epoch + 5)
    alice = publish(chain, validator, "alice", payload(builtin("lion")))
    bob = publish(chain, validator, "bob", payload(builtin("sgd_momentum")))
    report = validator.step()
    assert report.epoch == 1 and report.scores.ranking == ("alice",)
    assert report.entries["alice"].seed_block == alice + 1  # paid seeds: not block 360's
    assert report.entries["bob"].seed_block == bob + 1
    lion, sgd = report.entries["alice"].program, report.entries["bob"].program

    chain.advance(epoch)  # a new epoch: the top alone is evaluated again, on its seeds
    caplog.set_level(logging.INFO, logger="hivejax.validator")
    caplog.clear()
    report = validator.step()
    assert report.epoch == 2 and report.entries["alice"].seed_block == 2 * epoch
    assert report.entries["bob"].seed_block == bob + 1
    assert f"evaluating 1 program(s) on the seeds of block {2 * epoch}" in caplog.text
    version, paid = PROTOCOL.version, chain.block_hash(2 * epoch)
    assert validator.ledger.get_evaluation(lion, paid, version) is not None
    assert validator.ledger.get_evaluation(sgd, paid, version) is None
    assert report.scores.ranking == ("alice",)


def switched(first: str, after: str):
    """Lion whose update is multiplied by ``first`` on the steps t = 1, 2, 3 that the
    fingerprint's probe runs and by ``after`` from t = 4 on (each "1" or "-1")."""
    s = [("r5", "sub", "t", "c5"), ("r5", "relu", "r5", "r5"), ("r5", "min", "r5", "one")]
    s += [("r6", "add", "r5", "r5")]  # 0 on the probe's steps, 2 after them
    s += [("r6", "sub", "one", "r6") if first == "1" else ("r6", "sub", "r6", "one")]
    assert (first, after) in (("1", "-1"), ("-1", "1"))
    return make_program(SPEC, [*LION, *s, ("r0", "mul", "r0", "r6")], [*LION_CONSTS[:5], 3.0])


def test_an_evil_twin_is_trained_itself_and_takes_nothing(tmp_path, trained):
    # After an honest Lion: a program with Lion's fingerprint that ascends once the probe's
    # steps are over, from a hotkey that sorts first, and one that ascends on the probe's
    # steps only (a new fingerprint) and then trains exactly like Lion.
    chain, validator = subnet(tmp_path, miners=("alice", "aaron", "zoe"))
    publish(chain, validator, "alice", payload(builtin("lion")))
    publish(chain, validator, "aaron", payload(switched("1", "-1")))
    publish(chain, validator, "zoe", payload(switched("-1", "1")))
    report = validator.step()
    alice, aaron, zoe = (report.entries[h] for h in ("alice", "aaron", "zoe"))
    assert aaron.fingerprint == alice.fingerprint and aaron.program != alice.program
    assert aaron.reason == "copy" and aaron.mean < 0  # trained itself: it ascends
    assert alice.mean > 0.02 and alice.lower_bound > 0  # her own evaluation: Lion's
    assert zoe.fingerprint != alice.fingerprint and zoe.reason in ("no_new_gain", "no_gain")
    assert report.scores.ranking == ("alice",)
    assert report.scores.weights == {1: 1.0, 2: 0.0, 3: 0.0}


def test_near_copies_that_pass_the_fingerprint_take_nothing_from_the_leader(tmp_path, trained):
    # Lion + 0.002 g, and Lion with twice its weight decay: new fingerprints, the same training
    near = {
        "plus_g": make_program(
            SPEC,
            [*LION, ("r6", "mul", "g", "c5"), ("r0", "add", "r0", "r6")],
            [*LION_CONSTS[:5], 0.002],
        ),
        "decay": make_program(SPEC, LION, [*LION_CONSTS[:2], 0.002, *LION_CONSTS[3:]]),
    }
    chain, validator = subnet(tmp_path, miners=("alice", *near))
    publish(chain, validator, "alice", payload(builtin("lion")))
    for name, program in near.items():
        publish(chain, validator, name, payload(program))
    report = validator.step()
    for name in near:
        e = report.entries[name]
        assert e.fingerprint != report.entries["alice"].fingerprint, name
        assert e.reason in ("no_new_gain", "no_gain") and e.mean > 0, (name, e)
    assert report.scores.ranking == ("alice",)
    assert report.scores.weights == {1: 1.0, 2: 0.0, 3: 0.0}


def test_copiers_that_republish_the_leader_take_nothing(tmp_path, trained):
    # what ``hivejax subnet local --copiers K`` runs: Sybils with ``u + eps u^2``
    chain, validator = subnet(tmp_path, miners=("alice", "copier-0", "copier-1"))
    publish(chain, validator, "alice", payload(builtin("lion")))
    copiers = [
        Copier(chain, f"copier-{i}", 1e-3 * (i + 1), "optimizer", PROTOCOL.version, SPEC)
        for i in range(2)
    ]
    for copier in copiers:
        copier.step("alice")  # the hash
    validator.watch()
    chain.advance(REVEAL_AFTER)
    for copier in copiers:
        copier.step("alice")  # the reveal
    chain.advance(1)
    report = validator.step()
    for copier in copiers:
        e = report.entries[copier.hotkey]
        assert e.state == "scored" and e.program != report.entries["alice"].program
        assert e.reason in ("copy", "no_new_gain") and e.mean > 0, e
    assert report.scores.ranking == ("alice",)
    assert report.scores.weights == {1: 1.0, 2: 0.0, 3: 0.0}
    assert near_copy(SPEC, builtin("adam"), 0.1) is None  # every constant slot in use


def test_when_nobody_earns_the_weight_goes_to_the_burn_uid(tmp_path, trained):
    chain, validator = subnet(tmp_path)
    publish(chain, validator, "alice", payload(builtin("lion")))
    assert validator.step().weights_set and chain.weights() == {0: {1: rules.U16_MAX}}
    chain.commit("alice", b"junk")  # the leader replaces its program
    chain.advance(rules.WEIGHTS_RATE_LIMIT)
    report = validator.step()
    assert report.entries["alice"].state == "bad_magic" and report.weights_set
    assert chain.weights() == {0: {0: rules.U16_MAX}}  # uid 0, the burn uid here
    assert chain.shares(chain.block())["alice"] == 0.0  # stale weights pay nothing


def test_a_leader_keeps_its_place_while_its_next_hash_waits(tmp_path, trained):
    chain, validator = subnet(tmp_path)
    publish(chain, validator, "alice", payload(builtin("lion")))
    assert validator.step().scores.ranking == ("alice",)
    # a refresh: the chain now shows only alice's new hash
    chain.commit("alice", make_hash_commitment(payload(builtin("lion")), new_salt(), "alice"))
    chain.advance(rules.WEIGHTS_RATE_LIMIT)
    report = validator.step()
    assert report.scores.ranking == ("alice",) and chain.weights() == {0: {1: rules.U16_MAX}}
    # a hash never revealed within the window holds nothing
    chain.advance(reveal.REVEAL_WINDOW)
    report = validator.step()
    assert report.entries["alice"].state == "hash" and report.scores.ranking == ()


class Hostile(MemoryChain):
    """A chain read that goes wrong: ``mallory``'s hash comes with a block no chain has,
    and the first ``failures`` reads of the block raise."""

    def __init__(self, failures: int):
        super().__init__()
        self.failures = failures

    def block(self):
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the node answered garbage")
        return super().block()

    def commitments(self):
        found = super().commitments()
        if "mallory" in found:
            found["mallory"] = dataclasses.replace(found["mallory"], block=-1)
        return found


def test_a_validator_logs_a_failing_entry_or_interval_and_goes_on(tmp_path, caplog):
    chain = Hostile(failures=0)
    chain.register("validator", stake=1.0, validator=True)
    chain.register("mallory")
    validator = Validator(chain, "validator", tmp_path, ValidatorConfig(protocol=PROTOCOL))
    chain.commit("mallory", make_hash_commitment(payload(builtin("lion")), new_salt(), "mallory"))
    caplog.set_level(logging.INFO, logger="hivejax.validator")
    report = validator.step()
    assert report.entries["mallory"].state == "error"
    assert "reading mallory's commitment failed: ValueError" in caplog.text
    assert "at once failed" not in caplog.text  # nothing to fingerprint is no failure
    assert report.weights_set  # the rest of the interval went on: the weight is burnt
    chain.failures = 1
    chain.advance(rules.WEIGHTS_RATE_LIMIT)
    caplog.clear()
    validator.run(interval=0.0, poll=60.0, steps=2)
    assert "interval failed, trying again next interval: RuntimeError" in caplog.text
    assert chain.metagraph().neurons[0].last_update == chain.block()  # the second one set


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


@pytest.mark.usefixtures("trained")
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


def best_of_seeds(trained: dict, searched: dict):
    """``Miner._evolve`` for a search that finds nothing better than what it starts from: the
    round's seed programs as the miner hands them to ``evolve`` (the user's, then those on
    chain), the best of them by their results in ``trained`` its one finalist. It records in
    ``searched`` the hotkeys on chain each round started from. A real round compiles a
    search of its own, for minutes; ``test_local_subnet`` runs those."""
    results = {formula(SPEC, builtin(name)): ev.improvements for name, ev in trained.items()}

    def search(self, k, chain_programs):
        searched.setdefault(self.hotkey, []).append([c.hotkey for c in chain_programs])
        paths = self._seed_files(self.directory / "rounds" / f"{k:05d}", chain_programs)
        programs = [load_program(path, SPEC)[1] for path in paths]
        return [max(programs, key=lambda p: np.mean(results[formula(SPEC, p)]))]

    return search


def test_a_miner_publishes_only_a_program_that_would_lead(tmp_path, caplog, monkeypatch, trained):
    searched = {}
    monkeypatch.setattr(Miner, "_evolve", best_of_seeds(trained, searched))
    # the rounds share one compilation of the protocol; the module frees it at its end
    monkeypatch.setattr("hivejax._src.subnet.miner.release_executables", lambda: None)
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
    assert searched["bob"] == [["alice"]]
    assert not decision["committed"]
    assert decision["reason"] == "copy"  # it found nothing better than alice's program
    assert "bob" not in chain.commitments()
    decision = alice.step()
    assert not decision["committed"]
    assert decision["reason"] == "already published"
    assert validator.step().scores.ranking == ("alice",)


def test_a_miner_decides_on_the_chain_as_it_is_when_its_round_ends(tmp_path, monkeypatch, trained):
    # while bob's round evolves, alice reveals the very program the round ends with
    chain, validator = subnet(tmp_path / "v")

    def search(self, k, chain_programs):
        assert chain_programs == []  # the chain the round started from
        publish(chain, validator, "alice", payload(builtin("lion")))
        return [builtin("lion")]

    monkeypatch.setattr(Miner, "_evolve", search)
    monkeypatch.setattr("hivejax._src.subnet.miner.release_executables", lambda: None)
    config = MinerConfig(protocol=PROTOCOL, population=8, generations=2)
    bob = Miner(chain, "bob", tmp_path / "bob", config, sleep=lambda _: chain.advance(1))
    decision = bob.step()
    assert not decision["committed"] and decision["reason"] == "copy"
    assert "bob" not in chain.commitments()


SIGN_DESCENT = make_program(SPEC, [("r0", "sign", "g", "g")])
PAID = {
    "lion": ((0.04, 0.05, 0.03, 0.04), (False, False, False, False)),
    "sgd_momentum": ((-0.02, 0.0, -0.1, 0.0), (False, False, True, False)),
    "sign_descent": ((0.06, 0.07, 0.05, 0.06), (False, False, False, False)),
}
"""Made-up improvements and broken flags per run of three programs: a leader, a loser
whose third run broke, and one that beats the leader by 0.02 (``SIGN_DESCENT``)."""


def made_up_improvements(protocol, programs, epoch, *, spec, data_dir):
    """``protocols.population_improvements`` without training: ``PAID``'s results, by
    formula, whatever the protocol and epoch."""
    named = {name: builtin(name) for name in ("lion", "sgd_momentum")}
    by_formula = {
        formula(SPEC, named.get(name, SIGN_DESCENT)): result for name, result in PAID.items()
    }
    n = int(np.shape(programs.length)[0])
    results = [
        by_formula[formula(spec, jax.tree.map(lambda x, i=i: x[i], programs))] for i in range(n)
    ]
    return np.array([g for g, _ in results]), np.array([b for _, b in results])


def test_a_miner_decides_on_the_candidates_a_validator_scores(tmp_path, monkeypatch):
    """One builder (``candidates``): the programs on chain are the same candidates in a
    miner's decision as in a validator's scores, fresh on one side and read back from the
    ledger on the other, but for the block a miner dates another's program by."""
    monkeypatch.setattr(
        "hivejax._src.subnet.candidates.population_improvements", made_up_improvements
    )
    scored = {}
    for neuron in ("miner", "validator"):

        def spy(cands, owners=None, neuron=neuron):  # a validator scores twice: keep both
            scored.setdefault(neuron, {}).update({c.hotkey: c for c in cands})
            return score(cands, owners)

        monkeypatch.setattr(f"hivejax._src.subnet.{neuron}.score", spy)
    chain, validator = subnet(tmp_path)

    def wait(_seconds):
        validator.watch()
        chain.advance(1)

    alice = Miner(chain, "alice", tmp_path / "alice", MinerConfig(protocol=PROTOCOL), sleep=wait)
    assert alice._decide(0, [builtin("lion")], [])["committed"]
    new = scored["miner"][NEW]  # the round's finalist, dated after everything on chain
    assert new.uid == -1 and new.priority_block == chain.block() + 1
    assert new.improvements == PAID["lion"][0] and not new.broken
    alice.publish()
    publish(chain, validator, "bob", payload(builtin("sgd_momentum")))
    validator.step()
    assert alice._decide(1, [builtin("lion")], alice.on_chain())["reason"] == "already published"

    mine, theirs = scored["miner"], scored["validator"]
    assert mine["alice"] == theirs["alice"]  # her own program: dated by its hash, as theirs
    assert theirs["alice"].improvements == PAID["lion"][0] and not theirs["alice"].broken
    assert theirs["bob"].improvements == PAID["sgd_momentum"][0] and theirs["bob"].broken
    # the chain shows another's latest write, the reveal; a validator saw its hash before
    assert mine["bob"].priority_block == chain.commitments()["bob"].block
    assert theirs["bob"].priority_block < mine["bob"].priority_block
    assert mine["bob"] == dataclasses.replace(
        theirs["bob"], priority_block=mine["bob"].priority_block
    )


def test_a_miner_publishes_a_finalist_when_its_best_is_a_copy(tmp_path, monkeypatch):
    """The round's best is a copy of the leader on chain, and two finalists are one program:
    the miner publishes the finalist that beats the leader, having scored each program
    once."""
    monkeypatch.setattr(
        "hivejax._src.subnet.candidates.population_improvements", made_up_improvements
    )
    chain, validator = subnet(tmp_path)
    publish(chain, validator, "alice", payload(builtin("lion")))
    bob = Miner(chain, "bob", tmp_path / "bob", MinerConfig(protocol=PROTOCOL))
    copies = lion_copies()
    finalists = [copies["dead_code"], copies["renamed"], SIGN_DESCENT]
    decision = bob._decide(0, finalists, bob.on_chain())
    assert decision["committed"] and decision["reason"] == "beats alice by the margin"
    assert decision["formula"] == formula(SPEC, SIGN_DESCENT)
    assert decision["mean"] == pytest.approx(np.mean(PAID["sign_descent"][0]))
    assert decision["finalists"] == 2  # Lion renamed is Lion with dead code: one program
    assert decision["seconds"] >= 0
    assert bob.state["publish"]["payload"] == payload(SIGN_DESCENT).hex()
    # Alone, the best is a copy and nothing is published.
    alone = bob._decide(1, finalists[:1], bob.on_chain())
    assert not alone["committed"] and alone["reason"] == "copy" and alone["finalists"] == 1
    assert bob.state["publish"]["payload"] == payload(SIGN_DESCENT).hex()


def test_a_miner_publishes_the_finalist_that_would_lead_not_its_best(tmp_path, trained):
    # the funnel chose heavy-ball SGD on the search's keys; under the protocol it loses
    chain = MemoryChain()
    chain.register("alice")
    config = MinerConfig(protocol=PROTOCOL)
    alice = Miner(chain, "alice", tmp_path, config, sleep=lambda _: chain.advance(1))
    finalists = [builtin("sgd_momentum"), builtin("lion")]  # one batch of two, as `trained`
    decision = alice._decide(0, finalists, [])
    assert decision["committed"] and decision["reason"] == "leads"
    assert decision["formula"] == formula(SPEC, builtin("lion"))
    assert decision["finalists"] == 2 and decision["seconds"] > 0
    assert decision["mean"] > 0.02  # Lion's gain on another epoch's seeds
    alice.publish()
    (published,) = alice.on_chain()
    assert formula(SPEC, published.program) == formula(SPEC, builtin("lion"))


def test_a_miner_trains_a_program_once_per_epoch(tmp_path, trained, caplog):
    # Round after round of an epoch decides on the same seeds: what was trained on them
    # (the programs on chain, last round's finalists) comes from memory.
    chain = MemoryChain()
    chain.register("alice")
    alice = Miner(chain, "alice", tmp_path, MinerConfig(protocol=PROTOCOL))
    finalists = [builtin("sgd_momentum"), builtin("lion")]
    caplog.set_level(logging.INFO, logger="hivejax.miner")
    first = alice._decide(0, finalists, [])
    again = alice._decide(1, finalists, [])
    assert again == first | {"seconds": again["seconds"]}
    trained = [r.getMessage() for r in caplog.records if "trained" in r.getMessage()]
    assert "2 of them trained" in trained[0] and "0 of them trained" in trained[1]
    chain.advance(alice.config.epoch_blocks)  # a new epoch: new seeds, trained again
    alice._decide(2, finalists, [])
    assert "2 of them trained" in caplog.records[-2].getMessage()
