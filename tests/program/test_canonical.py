"""The canonical form identifies equivalent programs and means what the original means."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hivejax._src.interpret import reference
from hivejax._src.program.canonical import canonical_hash, canonicalize
from hivejax._src.program.liveness import live_mask
from hivejax._src.program.program import ProgramSpec, make_program, random_population

BASE = [("r1", "sub", "x", "y"), ("r2", "exp", "r1", "r1"), ("r0", "mul", "r1", "r2")]

# Each variant computes exactly what BASE with consts () computes.
SAME = {
    "dead code": (
        [("r3", "sin", "x", "x")] + BASE[:2] + [("r4", "add", "r2", "y")] + BASE[2:],
        (),
    ),
    "register names": (
        [("r5", "sub", "x", "y"), ("r1", "exp", "r5", "r5"), ("r0", "mul", "r5", "r1")],
        (),
    ),
    "commutative operand order": (BASE[:2] + [("r0", "mul", "r2", "r1")], ()),
    "unary second source": (
        [BASE[0], ("r2", "exp", "r1", "c3"), BASE[2]],
        (0.0, 0.0, 0.0, 7.0),
    ),
    "overwritten register": ([("r1", "cos", "y", "y")] + BASE, ()),
}

BASE_C = [("r1", "mul", "x", "c0"), ("r0", "add", "r1", "c1")]  # consts (2.0, 3.0)

SAME_C = {
    "constant slot order": (
        [("r1", "mul", "x", "c3"), ("r0", "add", "r1", "c0")],
        (3.0, 0, 0, 2.0),
    ),
    "unused constant values": (BASE_C, (2.0, 3.0, 9.0, -1.0)),
}

DIFFERENT = {
    "another op": ([BASE[0], ("r2", "sin", "r1", "r1"), BASE[2]], ()),
    "non-commutative operands swapped": ([("r1", "sub", "y", "x")] + BASE[1:], ()),
    "another input": ([("r1", "sub", "x", "x")] + BASE[1:], ()),
    "a constant": ([("r1", "sub", "x", "one")] + BASE[1:], ()),
    "a free constant's value": ([("r1", "sub", "x", "c0")] + BASE[1:], (1.0,)),
    "register data flow": (BASE[:2] + [("r0", "mul", "r2", "r2")], ()),
}


def _hash(spec, instructions, consts=()):
    return canonical_hash(spec, make_program(spec, instructions, consts))


@pytest.mark.parametrize("case", SAME)
def test_equivalent_programs_share_a_hash(spec, case):
    assert _hash(spec, *SAME[case]) == _hash(spec, BASE)


@pytest.mark.parametrize("case", SAME_C)
def test_equivalent_constant_use_shares_a_hash(spec, case):
    assert _hash(spec, *SAME_C[case]) == _hash(spec, BASE_C, (2.0, 3.0))


def test_two_new_constants_in_a_commutative_op(spec):
    # add(c0, c1) with (a, b) and add(c1, c0) with (a, b) both compute a + b.
    a = _hash(spec, [("r1", "add", "c0", "c1"), ("r0", "mul", "x", "r1")], (1.5, -2.0))
    b = _hash(spec, [("r1", "add", "c1", "c0"), ("r0", "mul", "x", "r1")], (1.5, -2.0))
    c = _hash(spec, [("r1", "add", "c0", "c1"), ("r0", "mul", "x", "r1")], (-2.0, 1.5))
    assert a == b == c
    d = _hash(spec, [("r1", "sub", "c0", "c1"), ("r0", "mul", "x", "r1")], (1.5, -2.0))
    e = _hash(spec, [("r1", "sub", "c1", "c0"), ("r0", "mul", "x", "r1")], (1.5, -2.0))
    assert d != e


@pytest.mark.parametrize("case", DIFFERENT)
def test_different_programs_differ(spec, case):
    assert _hash(spec, *DIFFERENT[case]) != _hash(spec, BASE)


def test_unwritten_register_reads_zero(spec):
    reads_r6 = [("r1", "mul", "x", "c0"), ("r1", "add", "r6", "r1"), ("r0", "add", "r1", "c1")]
    reads_zero = [("r1", "mul", "x", "c0"), ("r1", "add", "r1", "zero"), ("r0", "add", "r1", "c1")]
    assert _hash(spec, reads_r6, (2.0, 3.0)) == _hash(spec, reads_zero, (2.0, 3.0))
    assert _hash(spec, reads_r6, (2.0, 3.0)) != _hash(spec, BASE_C, (2.0, 3.0))


def test_unwritten_register_without_named_constants():
    # No named zero to read: the lowest register nothing has written yet stands for it.
    spec = ProgramSpec(inputs=("x",), num_consts=0, op_set="koza", named_constants=False)
    a = make_program(spec, [("r3", "sub", "x", "r6"), ("r0", "mul", "r3", "r5")])
    b = make_program(spec, [("r1", "sub", "x", "r2"), ("r0", "mul", "r1", "r7")])
    assert canonical_hash(spec, a) == canonical_hash(spec, b)
    c = canonicalize(spec, a)
    assert canonical_hash(spec, c) == canonical_hash(spec, a)  # idempotent
    x = jnp.linspace(-2.0, 2.0, 9)
    for p in (a, c):
        np.testing.assert_array_equal(reference.run(spec, p, (x,)), np.zeros(9, np.float32))
    d = make_program(spec, [("r1", "sub", "x", "r2"), ("r0", "mul", "r1", "x")])
    assert canonical_hash(spec, d) != canonical_hash(spec, a)


def test_padding_and_empty_programs(spec):
    empty = make_program(spec, [])
    dead = make_program(spec, [("r1", "exp", "x", "x")])
    assert canonical_hash(spec, empty) == canonical_hash(spec, dead)
    junk = make_program(spec, BASE)
    junk = junk.replace(op=junk.op.at[5:].set(3), src1=junk.src1.at[5:].set(1))
    assert canonical_hash(spec, junk) == _hash(spec, BASE)


def _stack(programs):
    return jax.tree.map(lambda *leaves: np.stack(leaves), *programs)


def _unbatch(population):
    host = jax.tree.map(np.asarray, population)  # slicing host arrays is free
    return [jax.tree.map(lambda a, i=i: a[i], host) for i in range(len(host.length))]


@pytest.fixture(scope="module")
def population(spec):
    return random_population(jax.random.key(3), spec, 48, max_length=spec.max_length)


@pytest.fixture(scope="module")
def canonical_population(spec, population):
    return [canonicalize(spec, p) for p in _unbatch(population)]


def test_canonical_form_runs_identically(spec, population, canonical_population):
    x = 3.0 * jax.random.normal(jax.random.key(1), (4, 5))
    y = jax.nn.one_hot(jnp.arange(4) % 5, 5)

    @functools.partial(jax.jit)
    def run_all(programs):
        return jax.vmap(lambda p: reference.run(spec, p, (x, y)))(programs)

    original = run_all(population)
    canonical = run_all(jax.tree.map(jnp.asarray, _stack(canonical_population)))
    # Only reorderings that are exact in float32 (commutative operands), so bit-equal.
    np.testing.assert_array_equal(canonical, original)
    lengths = np.asarray([int(c.length) for c in canonical_population])
    assert (lengths <= np.asarray(population.length)).all() and (lengths < 12).any()


def test_canonicalize_is_idempotent(spec, canonical_population):
    for c in canonical_population:
        again = canonicalize(spec, c)
        for name in ("op", "dst", "src1", "src2", "consts", "length"):
            np.testing.assert_array_equal(getattr(again, name), getattr(c, name))


def test_every_output_is_live_and_keeps_its_name():
    spec = ProgramSpec(inputs=("g", "s1"), outputs=2, op_set="elementwise")
    # r1 is an output (a state slot): its writer is live even though r0 never reads it.
    p = make_program(
        spec, [("r5", "mul", "s1", "half"), ("r1", "add", "r5", "g"), ("r0", "sign", "g", "g")]
    )
    assert np.asarray(live_mask(spec, p))[:3].tolist() == [True, True, True]
    c = canonicalize(spec, p)
    assert int(c.length) == 3 and int(c.dst[1]) == 1 and int(c.dst[0]) == 2
