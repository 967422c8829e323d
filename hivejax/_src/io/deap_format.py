"""The original Hivetrain subnet's genome format: DEAP prefix expressions and ``best_gene.json``.

The original subnet's miners evolve DEAP expression trees and publish the best one as
``best_gene.json``; its validators rebuild a PyTorch loss from it. This module reads such
a genome into a hivejax loss program and writes a program back, without DEAP, PyTorch or
``eval``. Decisions:

- **Vocabulary.** The 31 primitives of the original validator's primitive set
  (``create_pset_validator``), each mapped to the hivejax op of the same meaning
  (``ops.py`` documents the NaN-safety departures, such as exp clamping at 80, not 100):
  ``safe_add safe_sub safe_mul safe_div`` are ``add sub mul div``, ``safe_log safe_sqrt
  safe_exp`` are ``log sqrt exp``, and ``max min mod hypot sin cos tan arcsin arccos arctan
  sigmoid relu tanh leaky_relu mean std abs reciprocal square cube sign floor ceil round``
  keep their names. Any other name is an error.
- **Terminals.** The arguments ``x`` (logits) and ``y`` (one-hot targets) are the loss
  task's plain inputs: a genome imports into the ``x, y`` layout (``tasks/loss.py``), which
  ``--seed-programs`` re-expresses in a run's derived-input layout. The named constants
  ``one zero half pi e`` are hivejax's named constants; ``pi`` and ``e`` are exact here, where
  the original used 3.14159 and 2.71828 (relative differences below 1e-6).
- **Numbers.** A numeric literal (``-0.25``, ``1e-3``) or a PyTorch repr as DEAP prints an
  ephemeral constant (``tensor(0.3790)``, optionally with ``device=``, ``dtype=`` or
  ``requires_grad=`` keywords, which are ignored) becomes a free, differentiable constant
  ``c0, c1, ..`` rounded to float32, numbered in order of first appearance; equal values
  share a slot. Export writes them as the shortest decimal that reads back as the same
  float32 (``0.379``), the form the original's own parser reads as a number.
- **Program shape.** Identical subtrees are computed once (hash-consing). Instructions
  come in Sethi–Ullman order (the child needing more registers first) and each value gets
  the lowest free work register, released after its last read; the root writes ``r0``.
  The spec is the loss task's default (16 instructions, 4 constants, 8 registers) grown to
  what the expression needs, each capacity capped as ``formats.py`` caps files (255, 64,
  64); beyond a cap the ``DecodeError`` names the capacities needed. A bare terminal
  becomes one ``copy``.
- **Export** (``to_deap``) runs the program's instructions symbolically, so dead code is
  ignored and shared values are written out in full, in DEAP's own format
  (``safe_add(x, y)``). ``copy`` is transparent, ``neg`` is written ``safe_sub(zero, a)``,
  a register read before any write is ``zero``; an op without a counterpart (``sum_c``),
  an input other than ``x``/``y`` or a non-finite constant on the output's path raises
  ``ValueError`` naming it, as does an expression longer than the input cap.
- **Parsing** is a hand-written tokenizer and an explicit-stack parser: nesting depth is
  limited only by the input cap of ``MAX_EXPRESSION_CHARS`` characters, and every error is
  a one-line ``DecodeError`` (unknown name, unbalanced parenthesis, wrong arity, empty
  input, bad number, oversize input) with the character offset.
- **Files** (``best_gene.json``, ``.deap``) are read and written by ``deap_files.py``.

Example:
  >>> spec, program = from_deap("safe_mul(safe_log(sigmoid(x)), safe_sub(zero, y))")
  >>> int(program.length), spec.max_length
  (4, 16)
  >>> to_deap(spec, program)
  'safe_mul(safe_log(sigmoid(x)), safe_sub(zero, y))'
"""

import dataclasses
import heapq
import re
from typing import NoReturn

import numpy as np

from hivejax._src.program import formats, ops
from hivejax._src.program.formats import DecodeError
from hivejax._src.program.program import Program, ProgramSpec, make_program
from hivejax._src.tasks import loss

# DEAP name -> hivejax op name: the original validator's 31 primitives.
VOCABULARY: dict[str, str] = {
    "safe_add": "add",
    "safe_sub": "sub",
    "safe_mul": "mul",
    "safe_div": "div",
    "max": "max",
    "min": "min",
    "mod": "mod",
    "hypot": "hypot",
    "safe_log": "log",
    "safe_sqrt": "sqrt",
    "safe_exp": "exp",
    **{
        name: name
        for name in (
            "sin cos tan arcsin arccos arctan sigmoid relu tanh leaky_relu mean std abs "
            "reciprocal square cube sign floor ceil round"
        ).split()
    },
}
_DEAP_NAME = {op: name for name, op in VOCABULARY.items()}
ARGUMENTS = ("x", "y")
_NAMED = tuple(name for name, _ in ops.NAMED_CONSTANTS)
MAX_EXPRESSION_CHARS = 1 << 16
_TENSOR = ("tensor", "torch.tensor")
_TENSOR_KEYWORDS = ("device", "dtype", "requires_grad")

_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<number>[+-]?\.?[0-9](?:[0-9A-Za-z_.]|(?<=[eE])[+-])*)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r"|(?P<string>'[^'\\\n]*'|\"[^\"\\\n]*\")"
    r"|(?P<punct>[(),=])"
)
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _fail(message: str, offset: int | None = None) -> NoReturn:
    where = "" if offset is None else f" at offset {offset}"
    raise DecodeError(f"expression: {message}{where}")


# --- the expression as a DAG of interned nodes ---


@dataclasses.dataclass
class _Dag:
    """Interned nodes, children before parents. A node is ``("operand", name)``,
    ``("const", float32 bits)``, ``("op", hivejax op name, child ids)`` or, in an export,
    ``("bad", why)``: a value the vocabulary cannot express."""

    nodes: list = dataclasses.field(default_factory=list)
    ids: dict = dataclasses.field(default_factory=dict)

    def add(self, key: tuple) -> int:
        if key not in self.ids:
            self.ids[key] = len(self.nodes)
            self.nodes.append(key)
        return self.ids[key]

    def const(self, value) -> int:
        return self.add(("const", int(np.float32(value).view(np.uint32))))


def _literal_text(bits: int) -> str:
    return repr(formats._float_to_json(np.uint32(bits).view(np.float32)))


def _render(dag: _Dag, root: int) -> str:
    """The DEAP text of the tree under ``root``; ``ValueError`` past the size cap."""
    size = [0] * (root + 1)
    for i, node in enumerate(dag.nodes[: root + 1]):
        if node[0] == "operand":
            size[i] = len(node[1])
        elif node[0] == "const":
            size[i] = len(_literal_text(node[1]))
        elif node[0] == "op":
            children = node[2]
            size[i] = len(_DEAP_NAME[node[1]]) + 2 * len(children) + sum(size[c] for c in children)
    if size[root] > MAX_EXPRESSION_CHARS:
        raise ValueError(
            f"the expression would have {size[root]} characters, more than the cap of "
            f"{MAX_EXPRESSION_CHARS}"
        )
    out: list[str] = []
    stack: list = [root]  # node ids, and strings to emit as they are
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        node = dag.nodes[item]
        if node[0] == "operand":
            out.append(node[1])
        elif node[0] == "const":
            out.append(_literal_text(node[1]))
        else:
            out.append(_DEAP_NAME[node[1]] + "(")
            stack.append(")")
            for k, child in enumerate(reversed(node[2])):
                stack.append(child)
                if k < len(node[2]) - 1:
                    stack.append(", ")
    return "".join(out)


# --- parsing ---


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            _fail(f"unexpected character {text[pos]!r}", pos)
        if m.lastgroup != "space":
            out.append((m.lastgroup, m.group(), pos))
        pos = m.end()
    return out


def _number(token: str, offset: int) -> float:
    if not _FLOAT.fullmatch(token):
        _fail(f"bad number {token!r}", offset)
    with np.errstate(over="ignore"):
        value = np.float32(float(token))
    if not np.isfinite(value):
        _fail(f"number {token!r} is not a finite float32", offset)
    return value


def _tensor_literal(tokens: list, i: int) -> tuple[float, int]:
    """A ``tensor(NUMBER[, key=value]...)`` repr starting at ``tokens[i]`` (the name):
    its value and the index after it."""

    def expect(j, what, kinds=(), puncts=()):
        if j >= len(tokens):
            _fail(f"unbalanced parentheses: input ends inside {tokens[i][1]}(...)")
        kind, text, offset = tokens[j]
        if not (kind in kinds or (kind == "punct" and text in puncts)):
            _fail(f"expected {what} in {tokens[i][1]}(...), got {text!r}", offset)
        return tokens[j]

    expect(i + 1, "'('", puncts="(")
    _, text, offset = expect(i + 2, "a number", kinds=("number",))
    value = _number(text, offset)
    j = i + 3
    while expect(j, "',' or ')'", puncts=",)")[1] == ",":
        _, key, offset = expect(j + 1, "a keyword", kinds=("name",))
        if key not in _TENSOR_KEYWORDS:
            _fail(f"unknown keyword {key!r} in {tokens[i][1]}(...)", offset)
        expect(j + 2, "'='", puncts="=")
        expect(j + 3, "a value", kinds=("string", "name", "number"))
        j += 4
    return value, j + 1


def _parse(text) -> tuple[_Dag, int]:
    """Parse a prefix expression into an interned DAG and its root."""
    if not isinstance(text, str):
        raise DecodeError(f"expression: expected a string, got {type(text).__name__}")
    if len(text) > MAX_EXPRESSION_CHARS:
        _fail(f"{len(text)} characters, more than the cap of {MAX_EXPRESSION_CHARS}")
    tokens = _tokens(text)
    if not tokens:
        _fail("empty")
    return _Parser(tokens).parse()


class _Parser:
    """Recursive descent with an explicit stack: ``frames`` holds the open calls as
    ``[deap name, op, arity, child ids, offset]``, so nesting costs no Python recursion."""

    def __init__(self, tokens: list):
        self.tokens = tokens
        self.i = 0
        self.dag = _Dag()
        self.frames: list[list] = []

    def parse(self) -> tuple[_Dag, int]:
        while True:
            node = self.start()
            if node is not None:
                root = self.close(node)
                if root is not None:
                    return self.dag, root

    def start(self) -> int | None:
        """Read the start of an expression: a terminal (its node) or a call it opens."""
        tokens, i = self.tokens, self.i
        if i >= len(tokens):
            _fail("unbalanced parentheses: input ends where an argument should start")
        kind, tok, offset = tokens[i]
        if kind == "name" and tok in VOCABULARY:
            op = VOCABULARY[tok]
            arity = ops.OPS[ops.OP_INDEX[op]].arity
            if i + 1 >= len(tokens) or tokens[i + 1][1] != "(":
                _fail(f"{tok} takes {arity} argument(s) in parentheses", offset)
            self.frames.append([tok, op, arity, [], offset])
            self.i += 2
            return None
        if kind == "name" and tok in _TENSOR:
            value, self.i = _tensor_literal(tokens, i)
            return self.dag.const(value)
        if tok == ")" and kind == "punct" and self.frames:
            name, _, arity, children, start = self.frames[-1]
            _fail(f"{name} takes {arity} argument(s), got {len(children)}", start)
        self.i += 1
        if kind == "number":
            return self.dag.const(_number(tok, offset))
        if kind == "name" and (tok in ARGUMENTS or tok in _NAMED):
            return self.dag.add(("operand", tok))
        if kind == "name" and tok.lower() in ("nan", "inf", "infinity"):
            _fail(f"number {tok!r} is not finite", offset)
        if kind == "name":
            _fail(f"unknown name {tok!r}", offset)
        _fail(f"expected an expression, got {tok!r}", offset)

    def close(self, node: int) -> int | None:
        """After a complete expression ``node``: close the calls it completes. The root
        when nothing is left open, else ``None`` with the next argument's start next."""
        tokens = self.tokens
        while self.frames:
            name, op, arity, children, start = self.frames[-1]
            children.append(node)
            if self.i >= len(tokens):
                n = len(self.frames)
                _fail(f"unbalanced parentheses: {n} left open, the innermost opened", start)
            kind, sep, offset = tokens[self.i]
            if (kind, sep) == ("punct", ","):
                if len(children) >= arity:
                    _fail(f"{name} takes {arity} argument(s), got more", start)
                self.i += 1
                return None
            if (kind, sep) != ("punct", ")"):
                _fail(f"expected ',' or ')' in {name}(...), got {sep!r}", offset)
            if len(children) != arity:
                _fail(f"{name} takes {arity} argument(s), got {len(children)}", start)
            self.frames.pop()
            node = self.dag.add(("op", op, tuple(children)))
            self.i += 1
        if self.i < len(tokens):
            kind, tok, offset = tokens[self.i]
            if (kind, tok) == ("punct", ")"):
                _fail("unbalanced parentheses: unmatched ')'", offset)
            _fail(f"unexpected {tok!r} after the end", offset)
        return node


def normalize(expression: str) -> str:
    """``expression`` in DEAP's own format (``name(a, b)``, numbers as short decimals):
    what ``to_deap`` writes for its import. Raises ``DecodeError`` like ``from_deap``.

    Example:
      >>> normalize("safe_add( x,tensor(0.3790, device='cuda:0'))")
      'safe_add(x, 0.379)'
    """
    dag, root = _parse(expression)
    return _render(dag, root)


# --- import: schedule, registers, spec ---


def _schedule(dag: _Dag, root: int) -> list[int]:
    """Op nodes in evaluation order: post-order, the child needing more registers first
    (Sethi–Ullman numbers; operands need none), each shared node once."""
    need = [0] * len(dag.nodes)
    for i, node in enumerate(dag.nodes):
        if node[0] == "op":
            n = [need[c] for c in node[2]]
            need[i] = max(n[0], 1) if len(n) == 1 else (max(n) if n[0] != n[1] else n[0] + 1)
    order, done, stack = [], set(), [(root, False)]
    while stack:
        i, expanded = stack.pop()
        if i in done or dag.nodes[i][0] != "op":
            continue
        if expanded:
            done.add(i)
            order.append(i)
            continue
        stack.append((i, True))
        # Pushed in ascending need, right before left, so the neediest (then leftmost)
        # child is popped first.
        for child in sorted(reversed(dag.nodes[i][2]), key=lambda c: need[c]):
            stack.append((child, False))
    return order


def _allocate(dag: _Dag, order: list[int]) -> dict[int, int]:
    """A work register for each scheduled node: the lowest free one, a register freed
    after its value's last read; the last node (the root) gets ``r0``."""
    last_read = {}
    for k, i in enumerate(order):
        for child in dag.nodes[i][2]:
            last_read[child] = k
    register: dict[int, int] = {}
    free: list[int] = []
    fresh = 0
    for k, i in enumerate(order):
        for child in set(dag.nodes[i][2]):
            if child in register and last_read[child] == k:
                heapq.heappush(free, register[child])
        if k == len(order) - 1:  # every other value is dead here, so r0 is free
            register[i] = 0
            fresh = max(fresh, 1)
        elif free:
            register[i] = heapq.heappop(free)
        else:
            register[i], fresh = fresh, fresh + 1
    return register


def _fit_spec(spec: ProgramSpec | None, length: int, consts: int, registers: int) -> ProgramSpec:
    """``spec``, checked to hold the program, or the loss task's default grown to it."""
    needs = {"max_length": length, "num_consts": consts, "num_registers": registers}
    if spec is None:
        caps = {
            "max_length": formats.MAX_LENGTH,
            "num_consts": formats.MAX_CONSTS,
            "num_registers": formats.MAX_REGISTERS,
        }
        over = [f"{k}={v} (cap {caps[k]})" for k, v in needs.items() if v > caps[k]]
        if over:
            _fail(f"too large for a program: needs {', '.join(over)}")
        grown = {k: max(v, getattr(loss.SPEC, k)) for k, v in needs.items()}
        return dataclasses.replace(loss.SPEC, **grown)
    over = [
        f"{k}={v} (spec has {getattr(spec, k)})" for k, v in needs.items() if v > getattr(spec, k)
    ]
    if over:
        _fail(f"needs {', '.join(over)}")
    return spec


def from_deap(expression: str, spec: ProgramSpec | None = None) -> tuple[ProgramSpec, Program]:
    """Import a DEAP prefix expression over the original validator's vocabulary.

    Args:
      expression: DEAP's ``str`` of a tree, such as ``safe_add(x, safe_log(y))``.
      spec: the shape to import into; by default the loss task's plain ``x, y`` layout
        with its default capacities grown to what the expression needs.

    Returns ``(spec, program)``. Raises ``DecodeError`` (a ``ValueError``) with a one-line
    message for a malformed expression or one that does not fit.

    Example:
      >>> spec, p = from_deap("safe_add(safe_mul(x, 2.5), safe_mul(x, 2.5))")
      >>> int(p.length), spec.num_consts, to_deap(spec, p)
      (2, 4, 'safe_add(safe_mul(x, 2.5), safe_mul(x, 2.5))')
    """
    dag, root = _parse(expression)
    order = _schedule(dag, root)
    consts: dict[int, int] = {}  # float32 bits -> slot
    for node in dag.nodes:
        if node[0] == "const":
            consts.setdefault(node[1], len(consts))
    register: dict[int, int] = {}
    if not order:  # a bare terminal
        instructions = [("r0", "copy", root, root)]
        registers = 1
    else:
        register = _allocate(dag, order)
        registers = max(register.values()) + 1
        instructions = []
        for i in order:
            _, op, children = dag.nodes[i]
            instructions.append((f"r{register[i]}", op, children[0], children[-1]))
    spec = _fit_spec(spec, len(instructions), len(consts), registers)

    def name(i):
        node = dag.nodes[i]
        if node[0] == "operand":
            return node[1]
        return f"c{consts[node[1]]}" if node[0] == "const" else f"r{register[i]}"

    named = [(dst, op, name(a), name(b)) for dst, op, a, b in instructions]
    values = [float(np.uint32(bits).view(np.float32)) for bits in consts]
    try:
        return spec, make_program(spec, named, values)
    except ValueError as e:  # an input or op the given spec lacks
        raise DecodeError(f"expression: does not fit {spec}: {e}") from None


# --- export ---


def to_deap(spec: ProgramSpec, program: Program) -> str:
    """The DEAP prefix expression of one program's output ``r0``.

    Raises ``ValueError`` naming the op, input or constant on the output's path that the
    original vocabulary cannot express, or when the text would exceed the input cap.

    Example:
      >>> from hivejax._src.program.program import make_program
      >>> spec = ProgramSpec()
      >>> p = make_program(spec, [("r1", "sub", "x", "y"), ("r0", "square", "r1", "r1")])
      >>> to_deap(spec, p)
      'square(safe_sub(x, y))'
    """
    if spec.outputs != 1:
        raise ValueError(f"a DEAP genome has one output; this spec has {spec.outputs}")
    doc = formats.to_json(spec, program)
    dag = _Dag()
    bad: dict[int, str] = {}  # unexportable node -> why

    def leaf(name: str) -> int:
        if name in ARGUMENTS or name in _NAMED:
            return dag.add(("operand", name))
        if re.fullmatch(r"c[0-9]+", name):
            value = doc["consts"][int(name[1:])]
            if np.isfinite(value):
                return dag.const(value)
            return _bad(dag, bad, f"constant {name}={value} is not finite")
        if re.fullmatch(r"r[0-9]+", name):
            return registers.get(name, dag.add(("operand", "zero")))
        return _bad(dag, bad, f"input {name!r} has no DEAP name (only x and y)")

    registers: dict[str, int] = {}
    for dst, op, a, b in doc["instructions"]:
        src = [leaf(a)] if ops.OPS[ops.OP_INDEX[op]].arity == 1 else [leaf(a), leaf(b)]
        if op == "copy":
            registers[dst] = src[0]
        elif op == "neg":
            registers[dst] = _op(dag, bad, "sub", (dag.add(("operand", "zero")), src[0]))
        elif op in _DEAP_NAME:
            registers[dst] = _op(dag, bad, op, tuple(src))
        else:
            registers[dst] = _bad(dag, bad, f"op {op!r} has no counterpart in the vocabulary")
    root = registers.get("r0", dag.add(("operand", "zero")))
    if root in bad:
        raise ValueError(f"cannot write the program as a DEAP expression: {bad[root]}")
    return _render(dag, root)


def _bad(dag: _Dag, bad: dict, why: str) -> int:
    i = dag.add(("bad", why))
    bad[i] = why
    return i


def _op(dag: _Dag, bad: dict, op: str, children: tuple) -> int:
    for c in children:
        if c in bad:
            return c  # the first reason travels up
    return dag.add(("op", op, children))
