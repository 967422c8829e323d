"""The original subnet's genome format: DEAP expressions and best_gene.json, in and out.

Expressions are generated here as trees of nested tuples, written out as text, imported,
and compared with a numpy evaluation of the same trees under the ORIGINAL validator's
definitions (``dml/ops.py``: ``safe_div`` is ``a / (b + 1e-8)``, ``std`` uses N-1, ``pi``
is 3.14159, ...), never through the module's own parser.
"""

import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hivejax._src.interpret.reference import run
from hivejax._src.io import deap_files, deap_format
from hivejax._src.io.deap_files import gene_bytes, read_gene, write_gene
from hivejax._src.io.deap_format import VOCABULARY, from_deap, normalize, to_deap
from hivejax._src.io.program_io import load_program, save_program
from hivejax._src.program import ops
from hivejax._src.program.canonical import canonical_hash
from hivejax._src.program.formats import MAX_CONSTS, MAX_LENGTH, DecodeError
from hivejax._src.program.formula import formula
from hivejax._src.program.program import ProgramSpec, is_valid, make_program
from hivejax._src.run.setup import _seed_program
from hivejax._src.tasks import loss
from hivejax._src.tasks.registry import make_task
from hivejax.cli.main import main

# --- the original definitions, in numpy ---


def _std(a):
    return np.full_like(a, a.std(ddof=1))


ORIGINAL = {
    "safe_add": np.add,
    "safe_sub": np.subtract,
    "safe_mul": np.multiply,
    "safe_div": lambda a, b: a / (b + 1e-8),
    "max": np.maximum,
    "min": np.minimum,
    "mod": np.remainder,  # torch.remainder: the result takes the divisor's sign
    "hypot": np.hypot,
    "safe_log": lambda a: np.log(np.abs(a) + 1e-8),
    "safe_sqrt": lambda a: np.sqrt(np.abs(a)),
    "safe_exp": lambda a: np.exp(np.clip(a, -100, 100)),
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "arcsin": np.arcsin,
    "arccos": np.arccos,
    "arctan": np.arctan,
    "sigmoid": lambda a: 1 / (1 + np.exp(-a)),
    "relu": lambda a: np.maximum(a, 0),
    "tanh": np.tanh,
    "leaky_relu": lambda a: np.where(a > 0, a, 0.01 * a),
    "mean": lambda a: np.full_like(a, a.mean()),
    "std": _std,
    "abs": np.abs,
    "reciprocal": lambda a: 1 / a,
    "square": np.square,
    "cube": lambda a: a**3,
    "sign": np.sign,
    "floor": np.floor,
    "ceil": np.ceil,
    "round": np.round,  # half to even, like torch.round
}
NAMED = {"one": 1.0, "zero": 0.0, "half": 0.5, "pi": 3.14159, "e": 2.71828}
BINARY = sorted(n for n in ORIGINAL if ops.OPS[ops.OP_INDEX[VOCABULARY[n]]].arity == 2)
UNARY = sorted(n for n in ORIGINAL if n not in BINARY)
# Where float32 and float64 rounding cannot flip a discontinuous op or overflow: the pool
# of the large generated expressions.
SMOOTH_BINARY = ["safe_add", "safe_sub", "safe_mul", "max", "min", "hypot"]
SMOOTH_UNARY = [
    "sin", "cos", "arctan", "sigmoid", "relu", "tanh", "leaky_relu", "abs", "mean", "std",
    "safe_sqrt",
]  # fmt: skip


def evaluate(tree, x, y):
    """The tree's value under the original definitions (float64), recursively."""
    if isinstance(tree, str):
        value = {"x": x, "y": y}.get(tree, NAMED.get(tree))
        return np.broadcast_to(np.float64(value), x.shape)
    if isinstance(tree, float):
        return np.full(x.shape, np.float32(tree), np.float64)
    return ORIGINAL[tree[0]](*(evaluate(c, x, y) for c in tree[1:]))


def text(tree) -> str:
    """DEAP's ``str`` of a tree: ``name(a, b)``; numbers by ``repr``."""
    if isinstance(tree, str):
        return tree
    if isinstance(tree, float):
        return repr(tree)
    return f"{tree[0]}({', '.join(text(c) for c in tree[1:])})"


def size_and_depth(tree) -> tuple[int, int]:
    if not isinstance(tree, tuple):
        return 1, 1
    sizes, depths = zip(*(size_and_depth(c) for c in tree[1:]), strict=True)
    return 1 + sum(sizes), 1 + max(depths)


_run = jax.jit(run, static_argnums=0)


def hivejax_value(spec, program, x, y):
    return np.asarray(_run(spec, program, (jnp.asarray(x), jnp.asarray(y))))


def inputs(seed=0, low=0.05, high=0.9):
    """``x`` and ``y``, ``[8, 10]``, with magnitudes in ``[low, high]``: inside arcsin's
    domain and away from 0, where hivejax's ``reciprocal`` adds 1e-8 (``ops.py``)."""
    rng = np.random.default_rng(seed)
    sign = lambda: rng.choice(np.float32([-1, 1]), (8, 10))
    x, y = (sign() * rng.uniform(low, high, (8, 10)).astype(np.float32) for _ in range(2))
    return x, y


# --- vocabulary and meaning ---


def test_vocabulary_is_the_validators_31_primitives():
    # The validators' list, in hivejax's names.
    design = (
        "add sub mul div max min mod hypot log sqrt exp sin cos tan arcsin arccos arctan "
        "sigmoid relu tanh leaky_relu mean std abs reciprocal square cube sign floor ceil round"
    ).split()
    assert sorted(VOCABULARY.values()) == sorted(design) and len(VOCABULARY) == 31
    assert sorted(VOCABULARY) == sorted(ORIGINAL)


@pytest.mark.parametrize("name", sorted(ORIGINAL))
def test_each_primitive_agrees_with_the_original_definition(name):
    tree = (name, "x", "y") if name in BINARY else (name, "x")
    x, y = inputs()
    spec, program = from_deap(text(tree))
    assert spec == loss.SPEC and int(program.length) == 1
    # float32 against float64: the tolerance covers rounding, and reciprocal's +1e-8.
    np.testing.assert_allclose(
        hivejax_value(spec, program, x, y), evaluate(tree, x, y), rtol=2e-5, atol=1e-6
    )


def test_terminals_are_the_task_inputs_and_named_constants():
    tree = ("safe_add", ("safe_mul", "pi", "x"), ("safe_sub", ("safe_mul", "e", "y"), "half"))
    tree = ("safe_add", tree, ("safe_sub", "one", "zero"))
    x, y = inputs()
    spec, program = from_deap(text(tree))
    # hivejax's pi and e are exact; the original's 3.14159 and 2.71828 differ by < 1e-6.
    np.testing.assert_allclose(
        hivejax_value(spec, program, x, y), evaluate(tree, x, y), rtol=2e-6, atol=1e-5
    )
    assert formula(spec, program) == "x * pi + (y * e - half) + (one - zero)"
    assert to_deap(spec, program) == text(tree)


# --- generated expressions ---


def generate(rng, depth: int, binary, unary, leaves):
    """A random tree of at most ``depth`` levels; below the top, a node is a leaf with
    probability 0.15, so the trees are deep and bushy."""
    if depth == 1 or (depth < 24 and rng.random() < 0.15):
        leaf = leaves[rng.integers(len(leaves))]
        return leaf if isinstance(leaf, str) else round(float(rng.uniform(-2, 2)), 3)
    if rng.random() < 0.45:
        op = binary[rng.integers(len(binary))]
        return (op, *(generate(rng, depth - 1, binary, unary, leaves) for _ in range(2)))
    return (unary[rng.integers(len(unary))], generate(rng, depth - 1, binary, unary, leaves))


def large_tree(seed: int):
    """A tree of 300-450 nodes, deeper than 20, over the smooth pool."""
    rng = np.random.default_rng(seed)
    leaves = ["x", "y", "one", "half", "pi", 0.0]
    while True:
        tree = generate(rng, 26, SMOOTH_BINARY, SMOOTH_UNARY, leaves)
        n, depth = size_and_depth(tree)
        if 300 <= n <= 450 and depth > 20:
            return tree


@pytest.mark.parametrize("seed", [0, 1])
def test_large_deep_expression_imports_and_agrees(seed):
    tree = large_tree(seed)
    n, depth = size_and_depth(tree)
    expression = text(tree)
    spec, program = from_deap(expression)
    length = int(program.length)
    assert spec.inputs == ("x", "y") and bool(is_valid(spec, program))
    # Grown to fit: exactly as long as needed when past the default of 16.
    assert length < n and spec.max_length == max(16, length)
    # Registers are reused: far fewer than the values computed.
    assert spec.num_registers <= 16 < length
    x, _ = inputs(seed, 0.0, 3.0)
    y = np.eye(10, dtype=np.float32)[np.arange(8) % 10]  # one-hot targets, as in training
    got, want = hivejax_value(spec, program, x, y), evaluate(tree, x, y)
    assert np.all(np.isfinite(want))
    # float32 through 20+ levels against float64: loose, but far below any op's change.
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
    assert to_deap(spec, program) == expression == normalize(expression)


def test_common_subexpressions_are_computed_once():
    shared = ("safe_mul", ("sin", "x"), 2.5)
    tree = ("safe_add", shared, ("safe_div", shared, ("safe_add", shared, "y")))
    spec, program = from_deap(text(tree))
    assert int(program.length) == 5  # sin, mul, add, div, add
    assert int(spec.num_consts) == 4 and float(program.consts[0]) == 2.5
    assert to_deap(spec, program) == text(tree)


def _trees(max_leaves=12):
    leaf = st.one_of(
        st.sampled_from(["x", "y", *NAMED]),
        st.integers(-9999, 9999).map(lambda k: k / 100),
    )

    def extend(children):
        unary = st.tuples(st.sampled_from(UNARY), children)
        binary = st.tuples(st.sampled_from(BINARY), children, children)
        return unary | binary

    return st.recursive(leaf, extend, max_leaves=max_leaves)


@settings(max_examples=60, deadline=None)
@given(_trees())
def test_round_trip_keeps_the_program(tree):
    expression = text(tree)
    spec, program = from_deap(expression)
    assert normalize(expression) == expression
    exported = to_deap(spec, program)
    assert exported == expression  # a generated tree is already in normal form
    spec2, program2 = from_deap(exported)
    assert spec2 == spec
    for a, b in zip(jax.tree.leaves(program), jax.tree.leaves(program2), strict=True):
        np.testing.assert_array_equal(a, b)


def test_normal_form():
    messy = "safe_add(\n  x,tensor(0.3790, device='cuda:0') )"
    assert normalize(messy) == "safe_add(x, 0.379)"
    assert normalize("safe_mul(torch.tensor(-2), tensor(1e-3, requires_grad=True))") == (
        "safe_mul(-2.0, 0.001)"
    )
    spec, program = from_deap(messy)
    assert to_deap(spec, program) == normalize(messy)
    # Equal literals share a slot; each is rounded to float32 first.
    spec, program = from_deap("safe_add(0.1, safe_mul(0.10000000001, x))")
    assert to_deap(spec, program) == "safe_add(0.1, safe_mul(0.1, x))"
    assert np.count_nonzero(np.asarray(program.consts)) == 1


def test_deep_nesting_needs_no_recursion():
    deep = "sin(" * 2000 + "x" + ")" * 2000
    assert normalize(deep) == deep  # parsed and written with explicit stacks
    with pytest.raises(DecodeError, match=r"needs max_length=2000 \(cap 255\)"):
        from_deap(deep)
    fits = "safe_add(" * 254 + "x" + ", y)" * 254
    spec, program = from_deap(fits)
    assert spec.max_length == 254 and spec.num_registers == 8
    assert to_deap(spec, program) == fits


# --- export of hivejax programs ---


def test_export_of_a_hivejax_program():
    spec = ProgramSpec(num_consts=2)
    program = make_program(
        spec,
        [
            ("r3", "sum_c", "x", "x"),  # dead: no counterpart, but never read
            ("r1", "neg", "x", "x"),
            ("r2", "copy", "r1", "r1"),
            ("r0", "mul", "r2", "c1"),
            ("r0", "add", "r0", "r5"),  # r5 was never written: zero
        ],
        consts=(7.0, 0.25),
    )
    expression = to_deap(spec, program)
    assert expression == "safe_add(safe_mul(safe_sub(zero, x), 0.25), zero)"
    back_spec, back = from_deap(expression)
    x, y = inputs()
    np.testing.assert_array_equal(
        hivejax_value(back_spec, back, x, y), hivejax_value(spec, program, x, y)
    )
    assert to_deap(back_spec, back) == expression


@pytest.mark.parametrize(
    "instructions, consts, spec, message",
    [
        ([("r0", "lse_c", "x", "x")], (), loss.SPEC, "op 'lse_c' has no counterpart"),
        ([("r0", "sub", "y", "ls")], (), loss.DERIVED_SPEC, "input 'ls' has no DEAP name"),
        (
            [("r1", "sum_c", "x", "x"), ("r0", "add", "r1", "y")],
            (),
            loss.SPEC,
            "op 'sum_c' has no counterpart",
        ),
    ],
)
def test_export_names_what_the_vocabulary_lacks(instructions, consts, spec, message):
    program = make_program(spec, instructions, consts)
    with pytest.raises(ValueError, match=re.escape(message)):
        to_deap(spec, program)


def test_export_refuses_a_non_finite_constant_and_oversize_text():
    spec = ProgramSpec()
    program = make_program(spec, [("r0", "add", "x", "c0")])
    program = program.replace(consts=program.consts.at[0].set(jnp.inf))
    with pytest.raises(ValueError, match="constant c0=inf is not finite"):
        to_deap(spec, program)
    # Each instruction doubles the written tree: 2**40 leaves.
    big = ProgramSpec(max_length=41)
    doubling = [("r0", "add", "x", "y")] + [("r0", "add", "r0", "r0")] * 40
    with pytest.raises(ValueError, match="more than the cap of 65536"):
        to_deap(big, make_program(big, doubling))
    with pytest.raises(ValueError, match="one output"):
        to_deap(ProgramSpec(outputs=2), make_program(ProgramSpec(outputs=2), []))


# --- malformed input ---


@pytest.mark.parametrize(
    "expression, message",
    [
        ("", "empty"),
        (" \n\t", "empty"),
        ("foo(x)", "unknown name 'foo' at offset 0"),
        ("safe_add(x, z)", "unknown name 'z' at offset 12"),
        ("ARG0", "unknown name 'ARG0'"),
        ("safe_add(x, y", "unbalanced parentheses: 1 left open"),
        ("safe_add(x, sin(y)", "unbalanced parentheses: 1 left open, the innermost opened at"),
        ("safe_add(x, y))", "unbalanced parentheses: unmatched ')' at offset 14"),
        ("safe_add(x)", "safe_add takes 2 argument(s), got 1"),
        ("safe_log(x, y)", "safe_log takes 1 argument(s), got more"),
        ("sin()", "sin takes 1 argument(s), got 0"),
        ("safe_add", "safe_add takes 2 argument(s) in parentheses"),
        ("safe_add(x,, y)", "expected an expression, got ','"),
        ("safe_add(x y)", "expected ',' or ')' in safe_add(...), got 'y'"),
        ("x y", "unexpected 'y' after the end at offset 2"),
        ("(x)", "expected an expression, got '('"),
        ("1e", "bad number '1e'"),
        ("safe_add(x, 1.2.3)", "bad number '1.2.3' at offset 12"),
        ("1_000", "bad number '1_000'"),
        ("1e39", "number '1e39' is not a finite float32"),
        ("safe_mul(x, nan)", "number 'nan' is not finite"),
        ("tensor(x)", "expected a number in tensor(...), got 'x'"),
        ("tensor(1.0, grad=True)", "unknown keyword 'grad'"),
        ("tensor(1.0", "unbalanced parentheses: input ends inside tensor(...)"),
        ("safe_add(x, y); import os", "unexpected character ';'"),
        ("__import__('os')", "unknown name '__import__'"),
        ("x" * (deap_format.MAX_EXPRESSION_CHARS + 1), "65537 characters, more than the cap"),
    ],
)
def test_malformed_expressions_are_one_line_errors(expression, message):
    with pytest.raises(DecodeError) as info:
        from_deap(expression)
    text_ = str(info.value)
    assert text_.startswith("expression: ") and "\n" not in text_
    assert message in text_, text_


_PIECES = ["safe_add", "sin", "mean", "tensor", "(", ")", ",", "=", "x", "y", "pi", "1.5", "-2",
           "'cpu'", "device", " ", "foo"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=30).map("".join) | st.text(max_size=60))
def test_any_text_parses_or_is_a_decode_error(expression):
    try:
        normal = normalize(expression)
    except DecodeError as e:
        assert str(e).startswith("expression: ") and "\n" not in str(e)
        return
    assert normalize(normal) == normal


def test_capacity_errors_name_what_is_needed():
    many_consts = "safe_add(" * 70 + "x" + "".join(f", {i}.5)" for i in range(70))
    with pytest.raises(DecodeError, match=rf"needs num_consts=70 \(cap {MAX_CONSTS}\)"):
        from_deap(many_consts)
    long = "sin(" * 300 + "x" + ")" * 300
    with pytest.raises(DecodeError, match=rf"needs max_length=300 \(cap {MAX_LENGTH}\)"):
        from_deap(long)
    small = ProgramSpec(max_length=2)
    with pytest.raises(DecodeError, match=r"needs max_length=3 \(spec has 2\)"):
        from_deap("sin(cos(tan(x)))", small)
    with pytest.raises(DecodeError, match="'mean' is not in the 'elementwise' op set"):
        from_deap("mean(x)", ProgramSpec(inputs=("x",), op_set="elementwise"))
    with pytest.raises(DecodeError, match="unknown operand 'y'"):
        from_deap("safe_add(x, y)", ProgramSpec(inputs=("x",)))


# --- files ---


def test_best_gene_json_is_the_original_layout(tmp_path):
    spec, program = from_deap("safe_mul(safe_log(sigmoid(x)), safe_sub(zero, y))")
    path = tmp_path / deap_files.GENE_FILE
    write_gene(path, spec, program, hotkey="5Hotkey")
    data = path.read_bytes()
    # What the original miner writes: json.dump(json.dumps({...})).
    original = json.dumps(
        json.dumps(
            {
                "expression": "safe_mul(safe_log(sigmoid(x)), safe_sub(zero, y))",
                "hotkey": "5Hotkey",
            }
        )
    )
    assert data == original.encode() and isinstance(json.loads(data), str)
    assert read_gene(data) == ("safe_mul(safe_log(sigmoid(x)), safe_sub(zero, y))", "5Hotkey")
    assert [p.name for p in tmp_path.iterdir()] == [deap_files.GENE_FILE]  # no temp left
    # Overwritten in place, atomically, with the same layout.
    write_gene(path, *from_deap("x"))
    assert read_gene(path.read_bytes()) == ("x", None)
    assert gene_bytes("x") == path.read_bytes()


def test_load_program_reads_genomes(tmp_path):
    expression = "safe_div(safe_sub(x, y), safe_add(std(x), 1.5))"
    want_spec, want = from_deap(expression)
    gene = tmp_path / "best_gene.json"
    gene.write_bytes(gene_bytes(expression, "hk"))
    as_object = tmp_path / "object.json"  # the original's loader also takes the object
    as_object.write_text(json.dumps({"expression": expression, "hotkey": None}))
    bare = tmp_path / "loss.deap"
    bare.write_text(expression + "\n")
    for path in (gene, as_object, bare):
        spec, program = load_program(path)
        assert spec == want_spec
        assert canonical_hash(spec, program) == canonical_hash(want_spec, want)
    # A hivejax program file is still a hivejax program file.
    native = tmp_path / "native.json"
    save_program(native, want_spec, want)
    assert load_program(native)[0] == want_spec
    # Into a given layout: the derived inputs, as a run's seeds need.
    spec, program = load_program(gene, loss.DERIVED_SPEC)
    assert spec == loss.DERIVED_SPEC and to_deap(spec, program) == expression


def test_seed_programs_accept_genomes(tmp_path):
    gene = tmp_path / "best_gene.json"
    gene.write_bytes(gene_bytes("safe_mul(safe_log(sigmoid(x)), safe_sub(zero, y))"))
    task = make_task("loss", spec=loss.DERIVED_SPEC)
    program = _seed_program(str(gene), task)
    assert to_deap(task.spec, program) == "safe_mul(safe_log(sigmoid(x)), safe_sub(zero, y))"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "gene: not JSON"),
        (b'"not an object"', "gene (the string's content): not JSON"),
        (b'"[1, 2]"', "gene: expected a JSON object, got list"),
        (json.dumps(json.dumps({"hotkey": "h"})).encode(), "gene.expression: missing"),
        (json.dumps(json.dumps({"expression": 3})).encode(), "gene.expression: expected a string"),
        (
            json.dumps(json.dumps({"expression": "x", "hotkey": 5})).encode(),
            "gene.hotkey: expected a string or null",
        ),
        (gene_bytes("safe_add(x"), "expression: unbalanced parentheses"),
        (b'\xff"', "gene: not JSON"),
    ],
)
def test_malformed_gene_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "best_gene.json"
    path.write_bytes(content)
    if content[:1] not in (b'"', b"{"):
        # Not sniffed as a genome (no leading quote or brace): read it directly.
        with pytest.raises(DecodeError, match=re.escape(message)):
            read_gene(content)
        return
    with pytest.raises(DecodeError) as info:
        load_program(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)
    assert message in str(info.value)


def test_cli_shows_and_evaluates_a_best_gene_json(tmp_path, capsys):
    gene = tmp_path / "best_gene.json"
    gene.write_bytes(gene_bytes("safe_mul(safe_log(sigmoid(x)), safe_sub(zero, y))", "hk"))
    assert main(["show", str(gene)]) == 0
    assert capsys.readouterr().out.strip() == "log(sigmoid(x)) * (zero - y)"
    tiny = ["--dataset", "digits", "--steps", "10", "--batch-size", "32", "--seeds", "1"]
    assert main(["evaluate", str(gene), *tiny, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["program"]["per_seed"] and np.isfinite(result["program"]["mean"])
