"""Variation operators keep programs valid and do what they say, one program or many."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hivejax._src.program import ops
from hivejax._src.program.canonical import canonical_hash
from hivejax._src.program.liveness import live_mask
from hivejax._src.program.program import (
    Program,
    ProgramSpec,
    is_valid,
    make_program,
    random_population,
)
from hivejax._src.search.variation import (
    MUTATIONS,
    MutationParams,
    _live_consts,
    check_mutation_params,
    crossover,
    mutate,
    vmap_with_keys,
)
from hivejax._src.tasks.registry import make_task

SPECS = {
    "default": ProgramSpec(),
    # Edge capacities: one input, two slots, no constants, one register.
    "tiny": ProgramSpec(inputs=("x",), max_length=2, num_consts=0, num_registers=1),
}

N = 64  # parents per key; several keys give a few hundred children per operator


@functools.partial(jax.jit, static_argnums=(1,))
def _parents(key, spec):
    """Uniformly random parents of every length, the first quarter length 1, the second full.

    Drawn from one flat ``bits`` call: ``random_population`` would do, but compiles slowly.
    """
    L, K = spec.max_length, spec.num_consts
    bits = jax.random.bits(key, (N * (4 * L + K + 1),), jnp.uint32).reshape(N, -1)

    def ints(cols, n):
        return (bits[:, cols] % np.uint32(n)).astype(jnp.int32)

    length = 1 + ints(-1, L)
    quarter = N // 4
    length = length.at[:quarter].set(1).at[quarter : 2 * quarter].set(L)
    consts = (bits[:, 4 * L : 4 * L + K] >> 8).astype(jnp.float32) / 2**23 - 1.0
    return Program(
        op=ints(slice(0, L), ops.NUM_OPS),
        dst=ints(slice(L, 2 * L), spec.num_registers),
        src1=ints(slice(2 * L, 3 * L), spec.num_operands),
        src2=ints(slice(3 * L, 4 * L), spec.num_operands),
        consts=consts,
        length=length,
    )


OPERATORS = [*MUTATIONS, "crossover", "mutate"]
ONLY = {name: MutationParams(**{n: float(n == name) for n in MUTATIONS}) for name in MUTATIONS}


def _operator_keys(key):
    return dict(zip(OPERATORS, jax.random.split(key, len(OPERATORS)), strict=True))


@functools.partial(jax.jit, static_argnums=(1,))
def _children(key, spec, parents, params):
    """Every operator applied to every parent (crossover with the parents reversed)."""
    keys = _operator_keys(key)
    out = {name: vmap_with_keys(op, keys[name], spec, parents) for name, op in MUTATIONS.items()}
    partners = jax.tree.map(lambda x: x[::-1], parents)
    out["partner"] = partners
    out["crossover"] = vmap_with_keys(crossover, keys["crossover"], spec, parents, partners)
    # mutate under three settings in one vmap, so it compiles once.
    settings = jax.tree.map(lambda *xs: jnp.stack(xs), params, ONLY["insert"], ONLY["delete"])
    mutated = jax.vmap(lambda p: vmap_with_keys(mutate, keys["mutate"], spec, parents, params=p))(
        settings
    )
    for i, name in enumerate(("mutate", "mutate_insert", "mutate_delete")):
        out[name] = _member(mutated, i)
    return out


_CHILD_KEYS = [jax.random.key(100 + seed) for seed in range(3)]


def _member(tree, i):
    return jax.tree.map(lambda x: x[i], tree)


def _np(tree):
    return jax.tree.map(np.asarray, tree)


def _instructions(p, i):
    """Active instructions of member ``i`` as tuples."""
    n = int(p.length[i])
    return [
        tuple(int(getattr(p, f)[i, k]) for f in ("op", "dst", "src1", "src2")) for k in range(n)
    ]


@pytest.fixture(scope="module", params=list(SPECS))
def case(request):
    spec = SPECS[request.param]
    cases = []
    for seed, child_key in enumerate(_CHILD_KEYS):
        parents = _parents(jax.random.key(seed), spec)
        children = _children(child_key, spec, parents, MutationParams())
        cases.append((_np(parents), _np(children)))
    return spec, cases


def test_parents_cover_edge_lengths(case):
    spec, cases = case
    lengths = np.concatenate([p.length for p, _ in cases])
    assert lengths.min() == 1 and lengths.max() == spec.max_length


@pytest.mark.parametrize("name", [*MUTATIONS, "crossover", "mutate"])
def test_children_are_valid(case, name):
    spec, cases = case
    for _, children in cases:
        child = children[name]
        assert np.asarray(is_valid(spec, child)).all()
        for field in ("op", "dst", "src1", "src2", "length"):
            assert getattr(child, field).dtype == np.int32
        assert child.consts.dtype == np.float32
        assert child.op.shape == (N, spec.max_length)
        assert child.consts.shape == (N, spec.num_consts)


def test_insert_adds_one_instruction(case):
    spec, cases = case
    for parents, children in cases:
        child = children["insert"]
        child_live = _live(spec, child)
        full = parents.length == spec.max_length
        np.testing.assert_array_equal(
            child.length, np.where(full, parents.length, parents.length + 1)
        )
        for i in range(N):
            before, after = _instructions(parents, i), _instructions(child, i)
            if full[i]:
                assert after == before
            else:  # removing one live instruction of the child gives back the parent
                assert any(
                    after[:k] + after[k + 1 :] == before and child_live[i, k]
                    for k in range(len(after))
                )
        np.testing.assert_array_equal(child.consts, parents.consts)


def test_delete_removes_one_instruction(case):
    spec, cases = case
    for parents, children in cases:
        child = children["delete"]
        live = _live(spec, parents)
        single = parents.length == 1
        np.testing.assert_array_equal(child.length, np.where(single, 1, parents.length - 1))
        for i in range(N):
            before, after = _instructions(parents, i), _instructions(child, i)
            if single[i]:
                assert after == before
            else:  # a live instruction, when the parent has one
                assert any(
                    before[:k] + before[k + 1 :] == after and (live[i, k] or not live[i].any())
                    for k in range(len(before))
                )


def _live(spec, programs):
    return np.asarray(jax.vmap(lambda p: live_mask(spec, p))(programs))


def _changes_live_code(spec, parents, changed):
    """Every change hits a live instruction of its parent (any active one if none is live)."""
    live = _live(spec, parents)
    active = np.arange(spec.max_length) < parents.length[:, None]
    allowed = np.where(live.any(1, keepdims=True), live, active)
    return not (changed & ~allowed).any()


def test_point_and_argument_mutations_change_one_active_field(case):
    spec, cases = case
    for parents, children in cases:
        active = np.arange(spec.max_length) < parents.length[:, None]
        point = children["point"]
        changed = point.op != parents.op
        assert (changed.sum(1) == 1).all() and not (changed & ~active).any()
        assert _changes_live_code(spec, parents, changed)
        for f in ("dst", "src1", "src2"):
            np.testing.assert_array_equal(getattr(point, f), getattr(parents, f))

        arg = children["argument"]
        np.testing.assert_array_equal(arg.op, parents.op)
        diffs = sum((getattr(arg, f) != getattr(parents, f)) for f in ("dst", "src1", "src2"))
        # With one register the destination cannot change, so it may be a no-op there.
        assert (diffs.sum(1) <= 1).all() and not ((diffs > 0) & ~active).any()
        assert _changes_live_code(spec, parents, diffs > 0)
        if spec.num_registers > 1:
            assert (diffs.sum(1) == 1).all()
        # A unary op's ignored second source is never the field that changes.
        unary = np.asarray([op.arity for op in ops.OPS])[parents.op] == 1
        assert not ((arg.src2 != parents.src2) & unary).any()


def test_constant_mutation_changes_only_constants(case):
    spec, cases = case
    for parents, children in cases:
        child = children["constant"]
        for f in ("op", "dst", "src1", "src2", "length"):
            np.testing.assert_array_equal(getattr(child, f), getattr(parents, f))
        if spec.num_consts:
            changed = child.consts != parents.consts
            assert (changed.sum(1) == 1).all()
            # The changed constant is one that live code reads, when there is one.
            read = np.asarray(jax.vmap(lambda p: _live_consts(spec, p))(parents))
            assert (read[changed] | ~read.any(1)).all()


def test_crossover_children_come_from_parents(case):
    spec, cases = case
    for parents, children in cases:
        child, partner = children["crossover"], children["partner"]
        for i in range(N):
            pool = set(_instructions(parents, i)) | set(_instructions(partner, i))
            assert set(_instructions(child, i)) <= pool
            assert 1 <= child.length[i] <= spec.max_length
        from_a = child.consts == parents.consts
        from_b = child.consts == partner.consts
        assert (from_a | from_b).all()


def test_mutate_uses_the_weights(case):
    spec, cases = case
    for parents, children in cases:
        room = parents.length < spec.max_length
        grown, shrunk = children["mutate_insert"].length, children["mutate_delete"].length
        np.testing.assert_array_equal(grown, np.where(room, parents.length + 1, parents.length))
        np.testing.assert_array_equal(shrunk, np.maximum(parents.length - 1, 1))


@functools.partial(jax.jit, static_argnums=(1,))
def _all_single(keys, spec, program, partner, params):
    """Every operator on one program."""
    out = {name: op(keys[name], spec, program) for name, op in MUTATIONS.items()}
    out["crossover"] = crossover(keys["crossover"], spec, program, partner)
    out["mutate"] = mutate(keys["mutate"], spec, program, params)
    return out


def test_vmap_matches_python_loop(case):
    spec, cases = case
    parents, children = cases[0]
    # The keys _children gave each operator, then split per individual like vmap_with_keys.
    per_member = {
        name: jax.random.split(k, N) for name, k in _operator_keys(_CHILD_KEYS[0]).items()
    }
    for i in (0, N // 4, N // 2, N - 1):  # length 1, full, random lengths
        keys = {name: k[i] for name, k in per_member.items()}
        single = _all_single(
            keys, spec, _member(parents, i), _member(children["partner"], i), MutationParams()
        )
        for name in single:
            jax.tree.map(
                lambda a, b: np.testing.assert_array_equal(a[i], b),  # noqa: B023
                children[name],
                single[name],
            )


def test_is_valid_rejects_broken_programs(spec):
    p = make_program(spec, [("r0", "sub", "x", "y")], consts=(1.0,))
    assert bool(is_valid(spec, p))
    broken = [
        p.replace(op=p.op.at[3].set(ops.NUM_OPS)),
        p.replace(op=p.op.at[0].set(-1)),
        p.replace(dst=p.dst.at[5].set(spec.num_registers)),
        p.replace(src1=p.src1.at[0].set(spec.num_operands)),
        p.replace(src2=p.src2.at[-1].set(-1)),
        p.replace(length=jnp.asarray(0, jnp.int32)),
        p.replace(length=jnp.asarray(spec.max_length + 1, jnp.int32)),
        p.replace(consts=p.consts.at[1].set(jnp.nan)),
        p.replace(consts=p.consts.at[1].set(jnp.inf)),
        p.replace(op=p.op.astype(jnp.int16)),
        p.replace(consts=p.consts.astype(jnp.float16)),
        p.replace(op=p.op[:-1]),
    ]
    for b in broken:
        assert not bool(is_valid(spec, b))
    batch = jax.tree.map(lambda *xs: jnp.stack(xs), p, broken[0], p)
    np.testing.assert_array_equal(is_valid(spec, batch), [True, False, True])


@pytest.mark.parametrize(
    "bad",
    [
        dict(point=-0.1),
        dict(point=0.0, argument=0.0, constant=0.0, insert=0.0, delete=0.0),
        dict(const_sigma=-1.0),
        dict(const_all_prob=1.5),
    ],
)
def test_bad_mutation_params_raise(bad):
    with pytest.raises(ValueError):
        check_mutation_params(MutationParams(**bad))


def test_elementwise_children_use_no_reduction():
    spec = ProgramSpec(inputs=("x",), op_set="elementwise")
    pop = random_population(jax.random.key(0), spec, 64)
    step = jax.jit(jax.vmap(lambda key, p: mutate(key, spec, p, MutationParams())))
    for k in range(3):
        pop = step(jax.random.split(jax.random.key(k + 1), 64), pop)
    allowed = np.asarray(spec.allowed_ops)
    assert np.isin(np.asarray(pop.op), allowed).all()
    assert bool(jnp.all(is_valid(spec, pop)))
    assert not bool(is_valid(spec, pop.replace(op=pop.op.at[0, 0].set(ops.OP_INDEX["mean"])))[0])


@pytest.mark.parametrize("task", ["loss", "activation", "optimizer"])
def test_children_compute_something_new(task):
    """Effective mutation: a child of an initial program almost never computes exactly what
    its parent computes. Measured on 200 programs: about 1% per task, against 55-60% when
    operators could change dead code."""
    spec = make_task(task).spec
    parents = random_population(jax.random.key(0), spec, 200)
    children = vmap_with_keys(mutate, jax.random.key(1), spec, parents, params=MutationParams())
    same = sum(
        canonical_hash(spec, _member(parents, i)) == canonical_hash(spec, _member(children, i))
        for i in range(200)
    )
    assert same <= 10, same
