"""Scoring: broken and copied programs earn nothing, only a new gain earns (a latecomer must
beat every earlier earner by the margin), weights decay over the record holders, and two
validators whose accuracies differ by a few test images agree."""

import dataclasses
import random

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from programs import CE

from hivejax._src.evaluation.fingerprint import Fingerprint, fingerprints
from hivejax._src.evaluation.protocols import get_protocol
from hivejax._src.evaluation.scores import improvement
from hivejax._src.program.program import make_program, stack_programs
from hivejax._src.subnet.candidates import Evaluation, candidate, evaluate
from hivejax._src.subnet.scoring import DECAY, MARGIN, QUANTUM, Candidate, cell, score
from hivejax._src.tasks.registry import builtin, builtin_spec

# The validator protocol: two mnist1d cells (1000 test images) and two digits cells (397),
# four seeds each; baseline accuracies of the order the models reach.
TEST_IMAGES = np.repeat([1000, 1000, 397, 397], 4)
BASELINE = np.repeat([0.60, 0.85, 0.90, 0.93], 4)


def images(accuracy) -> np.ndarray:
    """Accuracies as whole numbers of correct test images."""
    return np.rint(np.asarray(accuracy) * TEST_IMAGES).astype(np.int64)


def honest(gain: float, seed: int) -> np.ndarray:
    """Correct images per run of a program that gains ``gain`` with a per-seed spread."""
    jitter = np.random.default_rng(seed).normal(0.0, 0.008, TEST_IMAGES.shape)
    return images(BASELINE + gain + jitter - jitter.mean())


@dataclasses.dataclass(frozen=True)
class Miner:
    hotkey: str
    uid: int
    fingerprint: str | None
    block: int
    correct: np.ndarray | None  # None: training broke on every run
    broken: bool = False
    reason: str | None = None


def field(base_images: np.ndarray) -> list[Miner]:
    """A realistic set: gains 0.02 to 0.085, means further apart than the margin, a loser,
    a copy, a broken, a constant and a NaN program."""
    bob = honest(0.085, 2)
    return [
        Miner("erin", 5, "fe", 50, honest(0.020, 5)),
        Miner("alice", 1, "fa", 100, honest(0.045, 1)),
        Miner("dave", 4, "fd", 150, honest(-0.010, 4)),  # worse than the baseline
        Miner("bob", 2, "fb", 200, bob),  # beats alice by 0.04
        Miner("carol", 3, "fc", 300, honest(0.070, 3)),  # beats alice, not bob: no new gain
        Miner("frank", 6, "fb", 400, bob),  # a copy of bob
        Miner("gina", 7, "fg", 120, honest(0.3, 7), broken=True),
        Miner("hank", 8, None, 130, base_images, reason="constant"),
        Miner("ivan", 9, None, 140, None, reason="non_finite"),
    ]


def candidates(miners, base_images, shift=None) -> list[Candidate]:
    """Candidates from correct-image counts; ``shift(name, images)`` perturbs each count."""
    shift = shift or (lambda name, x: x)
    base = shift("baseline", base_images) / TEST_IMAGES
    out = []
    for m in miners:
        if m.correct is None:
            program = np.full(TEST_IMAGES.shape, np.nan)
        else:
            program = shift(m.hotkey, m.correct) / TEST_IMAGES
        gains, broken = improvement(program, base)
        out.append(
            Candidate(
                m.hotkey,
                m.uid,
                m.fingerprint,
                m.block,
                tuple(gains.tolist()),
                m.broken or bool(broken.any()),
                m.reason,
            )
        )
    return out


BASE_IMAGES = images(BASELINE)


def test_the_field_scores_as_the_rules_say():
    s = score(candidates(field(BASE_IMAGES), BASE_IMAGES))
    assert s.ranking == ("bob", "alice", "erin")  # the records, newest first
    assert s.reasons == {
        "carol": "no_new_gain",
        "dave": "no_gain",
        "frank": "copy",
        "gina": "broken",
        "hank": "constant",
        "ivan": "broken",
    }
    total = sum(DECAY**r for r in range(3))
    assert s.weights[2] == pytest.approx(1 / total) and s.weights[5] == pytest.approx(
        DECAY**2 / total
    )
    assert sum(s.weights.values()) == pytest.approx(1.0)
    assert all(s.weights[uid] == 0.0 for uid in (3, 4, 6, 7, 8, 9))


def test_weights_hold_when_every_accuracy_moves_by_up_to_two_images():
    miners = field(BASE_IMAGES)
    ref_cands = candidates(miners, BASE_IMAGES)
    reference = score(ref_cands)
    rng = np.random.default_rng(0)
    names = ["baseline"] + [m.hotkey for m in miners]
    mean_cells = lambda cands: [cell(np.mean(c.improvements)) for c in cands]
    crossed = 0
    for _ in range(400):  # one other validator per draw
        shifts = {name: rng.integers(-2, 3, TEST_IMAGES.shape) for name in names}
        other = candidates(miners, BASE_IMAGES, lambda name, x, s=shifts: x + s[name])
        assert score(other) == reference
        crossed += mean_cells(other) != mean_cells(ref_cands)
    assert crossed > 10  # the shifts do move means across cell edges


def test_weights_hold_at_the_corners():
    """Every run of one miner (or the baseline) two images better, or two worse."""
    miners = field(BASE_IMAGES)
    reference = score(candidates(miners, BASE_IMAGES))
    for who in ["baseline"] + [m.hotkey for m in miners]:
        for sign in (-2, 2):
            shift = lambda name, x: x + (sign if name == who else 0)  # noqa: B023
            assert score(candidates(miners, BASE_IMAGES, shift)) == reference, (who, sign)


def test_the_order_of_the_candidates_does_not_matter():
    cands = candidates(field(BASE_IMAGES), BASE_IMAGES)
    reference = score(cands)
    for seed in range(5):
        random.Random(seed).shuffle(cands)
        assert score(cands) == reference


def gains(mean: float, n: int = 16) -> tuple[float, ...]:
    """``n`` improvements with mean ``mean`` and a small spread."""
    return tuple(mean + 0.004 * (i % 2 * 2 - 1) for i in range(n))


def test_a_latecomer_needs_the_margin():
    early = Candidate("early", 1, "f1", 10, gains(0.05))
    close = Candidate("close", 2, "f2", 20, gains(0.05 + MARGIN - QUANTUM))
    ahead = Candidate("ahead", 3, "f3", 30, gains(0.05 + MARGIN + QUANTUM))
    s = score([early, close])
    assert s.ranking == ("early",) and s.reasons == {"close": "no_new_gain"}
    assert s.weights == {1: 1.0, 2: 0.0}  # short of the margin: nothing, at any rank
    assert score([early, ahead]).ranking == ("ahead", "early")
    # in the same block, priority goes by hotkey and a higher mean at all is a new gain
    twin = dataclasses.replace(close, priority_block=10)
    assert score([early, twin]).ranking == ("close",)  # "close" < "early", and better
    higher = dataclasses.replace(ahead, hotkey="zed", priority_block=10)
    assert score([early, higher]).ranking == ("zed", "early")
    # equal cells in the same block: the hotkey decides, as everywhere
    same = Candidate("aaa", 4, "f4", 10, gains(0.05))
    assert score([early, same]).ranking == ("aaa",)


def test_a_record_must_beat_every_earlier_record():
    # b trails a's margin, so it holds no record; c beats a by the margin and needs no more
    a = Candidate("a", 1, "f1", 10, gains(0.050))
    b = Candidate("b", 2, "f2", 20, gains(0.055))
    c = Candidate("c", 3, "f3", 30, gains(0.062))
    s = score([c, b, a])
    assert s.ranking == ("c", "a") and s.reasons == {"b": "no_new_gain"}


def test_near_copies_of_the_leader_take_nothing_from_it():
    # Sybil copies that train like the leader, a hair above or below it: none adds a gain
    leader = Candidate("leader", 1, "f1", 10, gains(0.031))
    copies = [
        Candidate(f"copy{i}", 2 + i, f"g{i}", 20 + i, gains(0.031 + d))
        for i, d in enumerate((-0.004, 0.0, 0.002, 0.004))
    ]
    s = score([leader, *copies])
    assert s.ranking == ("leader",) and s.weights[1] == 1.0
    assert set(s.reasons.values()) == {"no_new_gain"}


def test_earners_must_be_scored_on_the_same_seeds():
    a = Candidate("a", 1, "f1", 10, gains(0.05))
    with pytest.raises(ValueError, match="same seeds"):
        score([a, Candidate("b", 2, "f2", 20, gains(0.08, n=12))])


def test_nobody_beats_the_baseline():
    cands = [
        Candidate("a", 1, "f1", 10, gains(-0.01)),
        Candidate("b", 2, "f2", 20, gains(0.0)),
        Candidate("c", 3, None, 30, gains(0.2), reason="constant"),
    ]
    s = score(cands)
    assert s.weights == {1: 0.0, 2: 0.0, 3: 0.0} and s.ranking == ()
    assert score([]).weights == {}


def test_a_bound_must_clear_zero():
    noisy = Candidate("noisy", 1, "f1", 10, (0.06, -0.05, 0.07, -0.04))  # mean > 0, bound < 0
    single = Candidate("single", 2, "f2", 10, (0.5,))
    nan = Candidate("nan", 3, "f3", 10, (0.1, float("nan")))
    s = score([noisy, single, nan])
    assert s.reasons == {"noisy": "no_gain", "single": "no_bound", "nan": "non_finite"}
    assert cell(QUANTUM / 2) == 1 and cell(QUANTUM / 2 - 1e-9) == 0


def test_the_ledgers_owner_decides_copies():
    copy = Candidate("copier", 2, "f1", 500, gains(0.05))
    assert score([copy]).ranking == ("copier",)
    s = score([copy], owners={"f1": "gone"})  # the owner moved on to another program
    assert s.reasons == {"copier": "copy"} and s.weights == {2: 0.0}


def test_repeated_hotkeys_or_uids_are_refused():
    a = Candidate("a", 1, "f1", 10, gains(0.05))
    with pytest.raises(ValueError, match="hotkeys"):
        score([a, dataclasses.replace(a, uid=2)])
    with pytest.raises(ValueError, match="uids"):
        score([a, dataclasses.replace(a, hotkey="b")])


def test_disguised_copies_earn_nothing_and_leave_the_owner_alone():
    spec = builtin_spec("cross_entropy")
    renamed = [("r4", "lse_c", "x", "x"), ("r4", "sub", "x", "r4"), ("r2", "mul", "y", "r4")]
    renamed += [("r2", "sum_c", "r2", "r2"), ("r0", "neg", "r2", "r2")]
    programs = {
        "owner": builtin("cross_entropy"),
        "other": builtin("focal"),
        "unchanged": builtin("cross_entropy"),
        "constant": make_program(spec, [*CE, ("r0", "add", "r0", "c0")], consts=[5.0]),
        "renamed": make_program(spec, renamed),
        "dead_code": make_program(spec, [("r3", "exp", "y", "y"), *CE]),
        "scaled": make_program(spec, [*CE, ("r0", "mul", "r0", "c0")], consts=[3.0]),
        "nan": make_program(spec, [("r0", "mul", "x", "c0")], consts=[float("nan")]),
        "flat": make_program(spec, [("r0", "add", "one", "one")]),
    }
    # two populations of at most 8 share one compilation of the probe
    names = list(programs)
    prints = {}
    for part in (names[:7], names[7:]):
        population = jax.tree.map(lambda *a: jnp.stack(a), *(programs[n] for n in part))
        prints |= dict(zip(part, fingerprints("loss", spec, population), strict=True))
    means = {"owner": 0.04, "other": 0.02, "nan": 0.0, "flat": 0.0}
    cands = [
        # copies evaluate a hair better than the owner: as good as the owner, luckier seeds
        Candidate(
            name, uid, f.fingerprint, 100 * uid, gains(means.get(name, 0.042)), False, f.reason
        )
        for uid, (name, f) in enumerate(prints.items(), start=1)
    ]
    alone = score(cands[:2])
    s = score(cands)
    assert s.ranking == ("owner",)
    assert s.weights[1] == alone.weights[1] and s.weights[2] == alone.weights[2]
    assert s.reasons == {
        "other": "no_new_gain",
        **{name: "copy" for name in ("unchanged", "constant", "renamed", "dead_code", "scaled")},
        "nan": "non_finite",
        "flat": "constant",
    }


def test_both_neurons_build_a_candidate_from_an_evaluation_one_way(monkeypatch):
    """``candidates``: improvements as Python floats, broken if any run broke, and no
    evaluation for a program without a fingerprint, whose reason says why it earns nothing."""
    gains = np.array([[0.04, 0.05, 0.03, 0.04], [0.2, 0.0, 0.3, 0.2]])
    runs_broken = np.array([[False] * 4, [False, True, False, False]])
    monkeypatch.setattr(
        "hivejax._src.subnet.candidates.population_improvements",
        lambda protocol, programs, epoch, *, spec, data_dir: (gains, runs_broken),
    )
    spec = builtin_spec("cross_entropy")
    programs = stack_programs([builtin("cross_entropy"), builtin("focal")])
    good, broken = evaluate(get_protocol("local-loss"), programs, 7, spec=spec)
    assert good == Evaluation((0.04, 0.05, 0.03, 0.04), False, 7)
    assert broken == Evaluation((0.2, 0.0, 0.3, 0.2), True, 7)
    assert all(type(g) is float for g in good.improvements)  # as the ledger stores them

    cands = [
        candidate("a", 1, Fingerprint("f1"), 10, good),
        candidate("b", 2, Fingerprint("f2"), 20, broken),
        candidate("c", 3, Fingerprint(None, "constant"), 30, None),
    ]
    assert cands == [
        Candidate("a", 1, "f1", 10, good.improvements),
        Candidate("b", 2, "f2", 20, broken.improvements, broken=True),
        Candidate("c", 3, None, 30, (), reason="constant"),
    ]
    s = score(cands)
    assert s.ranking == ("a",) and s.reasons == {"b": "broken", "c": "constant"}
