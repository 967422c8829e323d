"""Functional fingerprints: training-neutral edits share one, real differences and broken
programs do not."""

import jax
import jax.numpy as jnp
import pytest
from programs import CE, loss_variants

from hivejax._src.evaluation import fingerprint as fp
from hivejax._src.program.program import make_program
from hivejax._src.tasks.registry import builtin, builtin_spec

LOSS = builtin_spec("cross_entropy")
ACT = builtin_spec("relu")
OPT = builtin_spec("adam")


def stack(*programs):
    return jax.tree.map(lambda *a: jnp.stack(a), *programs)


def test_training_neutral_loss_edits_share_the_fingerprint():
    variants = loss_variants()
    results = fp.fingerprints("loss", LOSS, stack(*variants.values()))
    assert all(r.reason is None for r in results), results
    prints = {name: r.fingerprint for name, r in zip(variants, results, strict=True)}
    assert len(set(prints.values())) == 1, prints


def test_different_losses_differ():
    names = ("cross_entropy", "mse", "hinge", "focal", "label_smoothing")
    results = fp.fingerprints("loss", LOSS, stack(*(builtin(n) for n in names)))
    assert len({r.fingerprint for r in results}) == len(names)
    negated = make_program(LOSS, [*CE, ("r0", "mul", "r0", "c0")], consts=[-2.5])
    assert fp.fingerprint("loss", LOSS, negated) != results[0]  # a sign is no scale


def test_broken_and_constant_programs_are_flagged():
    programs = {
        "nan_const": make_program(LOSS, [("r0", "mul", "x", "c0")], consts=[float("nan")]),
        "nan_value": make_program(LOSS, [("r0", "add", "x", "c0")], consts=[float("nan")]),
        # inf saturates to 1e30, where the gradient is 0
        "saturated": make_program(LOSS, [("r0", "add", "x", "c0")], consts=[float("inf")]),
        "constant": make_program(LOSS, [("r0", "add", "one", "c0")], consts=[1.0]),
        "times_zero": make_program(LOSS, [("r0", "mul", "x", "zero")]),
        "flat": make_program(LOSS, [("r0", "floor", "y", "y")]),
    }
    results = fp.fingerprints("loss", LOSS, stack(*programs.values()))
    reasons = {name: (r.fingerprint, r.reason) for name, r in zip(programs, results, strict=True)}
    assert reasons == {
        "nan_const": (None, "non_finite"),
        "nan_value": (None, "non_finite"),
        "constant": (None, "constant"),
        "times_zero": (None, "constant"),
        "flat": (None, "constant"),
        "saturated": (None, "constant"),
    }


def test_a_population_matches_one_at_a_time():
    variants = list(loss_variants().values()) + [builtin("mse")]
    batch = fp.fingerprints("loss", LOSS, stack(*variants))
    assert batch == [fp.fingerprint("loss", LOSS, p) for p in variants]
    assert fp.fingerprints("loss", LOSS, jax.tree.map(lambda a: a[:0], stack(*variants))) == []


def test_activation_fingerprints_ignore_positive_affine_changes():
    relu = builtin("relu")
    affine = make_program(
        ACT,
        [("r1", "relu", "x", "x"), ("r1", "mul", "r1", "c0"), ("r0", "add", "r1", "c1")],
        consts=[2.5, -0.4],
    )
    negated = make_program(ACT, [("r1", "relu", "x", "x"), ("r0", "neg", "r1", "r1")])
    constant = make_program(ACT, [("r0", "add", "one", "c0")], consts=[2.0])
    a, b, c, d = fp.fingerprints("activation", ACT, stack(relu, affine, negated, constant))
    assert a.reason is None and a == b
    assert c.reason is None and c != a
    assert d == fp.Fingerprint(None, "constant")
    names = ("relu", "gelu", "tanh", "swish", "leaky_relu")
    prints = fp.fingerprints("activation", ACT, stack(*(builtin(n) for n in names)))
    assert len({p.fingerprint for p in prints}) == len(names)


def test_optimizer_fingerprints_see_updates_not_slots_or_scale():
    sgd = builtin("sgd_momentum")
    # The same heavy ball, keeping twice the momentum in its slot.
    doubled_slot = make_program(
        OPT,
        [
            ("r2", "mul", "s1", "half"),
            ("r2", "mul", "r2", "c0"),
            ("r2", "add", "g", "r2"),
            ("r0", "copy", "r2", "r2"),
            ("r1", "add", "r2", "r2"),
        ],
        consts=[0.9],
    )
    adam = builtin("adam")
    adam_ops = [
        ("r1", "mul", "s1", "c0"), ("r3", "mul", "g", "c1"), ("r1", "add", "r1", "r3"),
        ("r2", "mul", "s2", "c2"), ("r3", "square", "g", "g"), ("r3", "mul", "r3", "c3"),
        ("r2", "add", "r2", "r3"), ("r3", "mul", "t", "c4"), ("r3", "exp", "r3", "r3"),
        ("r3", "sub", "one", "r3"), ("r3", "div", "r1", "r3"), ("r4", "mul", "t", "c5"),
        ("r4", "exp", "r4", "r4"), ("r4", "sub", "one", "r4"), ("r4", "div", "r2", "r4"),
        ("r4", "sqrt", "r4", "r4"), ("r0", "div", "r3", "r4"), ("r0", "mul", "r0", "e"),
    ]  # fmt: skip
    adam_scaled = make_program(OPT, adam_ops, consts=[float(c) for c in adam.consts])
    ignores_grads = make_program(OPT, [("r0", "mul", "p", "c0")], consts=[0.01])
    frozen = make_program(OPT, [("r0", "mul", "g", "zero")])
    got = fp.fingerprints(
        "optimizer", OPT, stack(sgd, doubled_slot, adam, adam_scaled, ignores_grads, frozen)
    )
    assert got[0].reason is None and got[0] == got[1]
    assert got[2].reason is None and got[2] == got[3] and got[2] != got[0]
    assert got[4] == got[5] == fp.Fingerprint(None, "constant")
    lion = fp.fingerprint("optimizer", OPT, builtin("lion"))
    assert lion.reason is None and lion not in got


def test_a_second_population_compiles_nothing():
    fp.fingerprints("loss", LOSS, stack(builtin("mse"), builtin("hinge"), builtin("focal")))
    before = fp._probe_population._cache_size()
    # a population of another size in the same power-of-two bucket reuses the compilation
    again = stack(builtin("focal"), builtin("cross_entropy"), builtin("mse"), builtin("hinge"))
    fp.fingerprints("loss", LOSS, again)
    assert fp._probe_population._cache_size() == before


def test_wrong_task_or_shape_is_refused():
    with pytest.raises(ValueError, match="unknown task"):
        fp.fingerprint("policy", LOSS, builtin("mse"))
    with pytest.raises(ValueError, match="the activation task"):
        fp.fingerprint("activation", LOSS, builtin("mse"))
