"""Programs as standalone Python source for jax, numpy, torch or sympy: no hivejax import
needed.

``export_program(spec, program, target)`` returns the text of a small module, ready to
paste, that computes what the program means to its task:

- a **loss** becomes ``loss(logits, labels)``: ``logits`` are ``[..., classes]``; ``labels``
  are one-hot targets of the same shape, or integer class labels ``[...]`` (one dimension
  fewer; int64 for torch), turned one-hot first. The derived inputs ``p = softmax(x)`` and
  ``ls = log_softmax(x)`` are computed from the logits when the program reads them. The
  per-element output ``r0`` is averaged over *every* element, batch and classes alike, as
  the loss task does (``tasks/loss.py``), so the value and gradient are the task's;
- an **activation** becomes ``activation(x)``, elementwise;
- an **optimizer** update rule becomes ``update_rule(g, [p,] [s1, s2,] [t])``, elementwise,
  returning ``(direction, *new_slots)``, wrapped as the optimizer task wraps it
  (``tasks/optimizer.py``): the step count ``t`` is 1 at the first update, slots start at
  zero and parameters move by ``-learning_rate * direction``. ``--to optax`` and ``jax``
  give ``optimizer(learning_rate) -> optax.GradientTransformation`` whose state is
  ``ProgramState(count, slots)``; ``torch`` a ``torch.optim.Optimizer`` subclass,
  ``ProgramOptimizer(params, lr)``, with the slots under ``state[param]["s1"]``, ...;
  ``numpy`` ``init(param)`` and ``step(param, grad, state, learning_rate) -> (param,
  state)`` for one array. A slot that the program neither reads nor writes is always zero
  and is left out of the state; the update rule reads ``p`` and ``t`` only if it needs them;
- any other program (a symbolic-regression formula) becomes ``program(*inputs)`` returning
  ``r0``, elementwise.

``optax`` is named for the optimizer it gives; it writes the same code as ``jax``.
``sympy`` writes, for a program of any task, ``program(*inputs)`` returning its outputs as
sympy expressions, and ``expression``, its value at real symbols: the mathematics the ops
mean with their float32 guards dropped (``io/symbolic.py`` says what is dropped), for
comparing a program with a formula rather than for computing.

**How the code is made.** It is straight-line code over the canonical form's instructions
(``canonical.canonicalize``: the live instructions only, by ``liveness``, registers
renamed in order of first write, reads of unwritten registers reading ``zero``), one line
``rK = ...`` per instruction, with the canonical formula in the docstring. Constants (named
and free) are inlined as float32-exact literals: the shortest decimal that reads back as
the same float32. Each op is written with its NaN-safe meaning from ``ops.py`` (clamps, the
``EPS`` floors, saturation at ``+-BIG``), from the single table ``OP_TEMPLATES`` below:
one template per op, over the namespace ``xp`` (``jnp``, ``np`` or ``torch``) where the
three agree, else one per backend. Templates call small helpers (``HELPERS``: ``_sat``,
``_div``, ``_lse_c``, ...) that are emitted only when used, with the constants they need.
Every value has the inputs' shape, as in the interpreter: a reduction is broadcast back, the
step count ``t`` is ``full_like(g, t)``, an instruction whose sources are all constants
reads the first as ``full_like(input, constant)``, and so does a constant operand of an op
other than ``+ - *``, except in jax (whose functions take Python scalars and keep float32).
The source is generated from the program's numbers only; nothing from the input is
evaluated. The code is meant for float32 inputs, like the engine: the guards' constants
(``EPS``, the clamps) are chosen for float32.

**How faithful it is.** The jax code calls the same jnp functions as ``ops.py``, so its
values and gradients are the reference interpreter's up to float rounding (eager code
rounds a few fused expressions differently from jitted code). numpy and torch use their own
kernels, an ulp away from XLA's here and there. ``tests/test_export.py`` checks every op
alone at the extremes and random programs wherever float32 rounding does not decide the
result; where it does, no two float32 implementations agree: an op that jumps (floor,
ceil, round, sign) after a rounding difference upstream, ``mod``'s residue once
``|a / d|`` passes 2**22, ``std`` of a constant. XLA also flushes subnormal floats to zero
where numpy and torch on CPU keep them (``mod(1e-30, -1e30)`` is 1e-30 in XLA, -1e15 in
numpy). torch's gradients can differ from JAX's at kinks hit exactly (JAX's ``abs`` has
slope 1 at 0, torch's 0). numpy code runs under ``np.errstate(over="ignore")``: overflow is
saturated by design, not an error.

Example:
  >>> from hivejax._src.tasks.registry import builtin, builtin_spec
  >>> code = export_program(builtin_spec("mse"), builtin("mse"), "numpy")
  >>> print(code.split("def loss")[0].strip())
  # The loss program ..., exported by hivejax.
  import numpy as np
  <BLANKLINE>
  BIG = 1e+30
  <BLANKLINE>
  <BLANKLINE>
  def _sat(v):
      return np.clip(v, -BIG, BIG)
"""

import re

import jax
import numpy as np

from hivejax._src.io.symbolic import sympy_source
from hivejax._src.program import ops
from hivejax._src.program.canonical import canonicalize, hash_of_canonical
from hivejax._src.program.formula import formula_of_canonical
from hivejax._src.program.program import Program, ProgramSpec
from hivejax._src.tasks import optimizer as optimizer_task
from hivejax._src.tasks.registry import task_of_spec

TARGETS = ("jax", "numpy", "torch", "optax", "sympy")
"""What ``export_program`` (and ``hivejax export --to``) writes for."""

BACKENDS = ("jax", "numpy", "torch")
_BACKEND_OF = {"jax": "jax", "numpy": "numpy", "torch": "torch", "optax": "jax"}
_XP = {"jax": "jnp", "numpy": "np", "torch": "torch"}

# One entry per op: a template over ``xp`` with ``{a}`` and ``{b}`` for the sources, or
# one template per backend. A Python float in a template is converted to float32 by every
# backend, exactly as ops.py's literals are.
OP_TEMPLATES: dict[str, str | dict[str, str]] = {
    "add": "_sat({a} + {b})",
    "sub": "_sat({a} - {b})",
    "mul": "_sat({a} * {b})",
    "div": "_div({a}, {b})",
    "max": "xp.maximum({a}, {b})",
    "min": "xp.minimum({a}, {b})",
    "mod": "_mod({a}, {b})",
    "hypot": "_hypot({a}, {b})",
    "log": "xp.log(xp.abs({a}) + EPS)",
    "sqrt": "xp.sqrt(xp.clip(xp.abs({a}), 1e-16, None))",
    "exp": "xp.exp(xp.clip({a}, -80.0, 80.0))",
    "sin": "xp.sin({a})",
    "cos": "xp.cos({a})",
    "tan": "_tan({a})",
    "arcsin": "xp.arcsin(xp.clip({a}, -0.999999, 0.999999))",
    "arccos": "xp.arccos(xp.clip({a}, -0.999999, 0.999999))",
    "arctan": "xp.arctan({a})",
    "sigmoid": {
        "jax": "jax.nn.sigmoid({a})",
        "numpy": "_sigmoid({a})",
        "torch": "torch.sigmoid({a})",
    },
    "relu": {
        "jax": "jax.nn.relu({a})",
        "numpy": "np.maximum({a}, 0.0)",
        "torch": "torch.relu({a})",
    },
    "tanh": "xp.tanh({a})",
    "leaky_relu": "xp.where({a} >= 0, {a}, 0.01 * {a})",
    "mean": "_mean({a})",
    "std": "_std({a})",
    "abs": "xp.abs({a})",
    "reciprocal": "1.0 / _away({a} + EPS)",
    "square": "xp.square(xp.clip({a}, -1e18, 1e18))",
    "cube": "xp.clip({a}, -1e12, 1e12) ** 3",
    "sign": "xp.sign({a})",
    "floor": "xp.floor({a})",
    "ceil": "xp.ceil({a})",
    "round": "xp.round({a})",
    "neg": "-{a}",
    "copy": "{a}",
    "sum_c": "_sum_c({a})",
    "mean_c": "_mean_c({a})",
    "max_c": "_max_c({a})",
    "lse_c": "_lse_c({a})",
}

# The ops whose template takes a Python float source on every backend.
_SCALAR_SOURCES = frozenset({"add", "sub", "mul"})

_JNP_NP_REDUCTIONS = {
    "_mean": """def _mean(a):
    return xp.broadcast_to(_sat(xp.mean(a, keepdims=True)), a.shape)""",
    "_std": """def _std(a):
    a = xp.clip(a, -1e17, 1e17)
    mu = xp.mean(a, keepdims=True)
    var = xp.sum(xp.square(a - mu), keepdims=True) / max(a.size - 1, 1)
    return xp.broadcast_to(xp.sqrt(xp.clip(var, 1e-30, None)), a.shape)""",
    "_sum_c": """def _sum_c(a):
    return xp.broadcast_to(_sat(xp.sum(a, axis=-1, keepdims=True)), a.shape)""",
    "_mean_c": """def _mean_c(a):
    return xp.broadcast_to(_sat(xp.mean(a, axis=-1, keepdims=True)), a.shape)""",
    "_max_c": """def _max_c(a):
    return xp.broadcast_to(xp.max(a, axis=-1, keepdims=True), a.shape)""",
}
_TORCH_REDUCTIONS = {
    "_mean": """def _mean(a):
    return _sat(torch.mean(a)).expand_as(a)""",
    "_std": """def _std(a):
    a = torch.clip(a, -1e17, 1e17)
    var = torch.sum(torch.square(a - torch.mean(a))) / max(a.numel() - 1, 1)
    return torch.sqrt(torch.clip(var, 1e-30, None)).expand_as(a)""",
    "_sum_c": """def _sum_c(a):
    return _sat(torch.sum(a, dim=-1, keepdim=True)).expand_as(a)""",
    "_mean_c": """def _mean_c(a):
    return _sat(torch.mean(a, dim=-1, keepdim=True)).expand_as(a)""",
    "_max_c": """def _max_c(a):
    return torch.amax(a, dim=-1, keepdim=True).expand_as(a)""",
}

# The helpers and constants templates call, in the order they are emitted: source over
# ``xp``, or one source per backend (a backend missing from the dict never calls it).
HELPERS: dict[str, str | dict[str, str]] = {
    "EPS": f"EPS = {ops.EPS!r}",
    "BIG": f"BIG = {ops.BIG!r}",
    "_sat": """def _sat(v):
    return xp.clip(v, -BIG, BIG)""",
    "_away": """def _away(d):
    # d moved at least EPS away from zero, on its own side
    return xp.where(d >= 0, xp.clip(d, EPS, None), xp.clip(d, None, -EPS))""",
    "_div": """def _div(a, b):
    return _sat(xp.clip(a, -1e20, 1e20) / _away(b + EPS))""",
    "_mod": """def _mod(a, b):
    a = xp.clip(a, -1e15, 1e15)
    d = _away(xp.clip(b, -1e15, 1e15))
    return a - d * xp.floor(a / d)""",
    "_hypot": """def _hypot(a, b):
    a, b = xp.clip(a, -1e18, 1e18), xp.clip(b, -1e18, 1e18)
    return xp.sqrt(a * a + b * b + 1e-30)""",
    "_tan": """def _tan(a):
    return xp.sin(a) / _away(xp.cos(a))""",
    "_sigmoid": {
        "numpy": """def _sigmoid(a):
    z = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + z), z / (1 + z))"""
    },
    **{
        name: {"jax": text, "numpy": text, "torch": _TORCH_REDUCTIONS[name]}
        for name, text in _JNP_NP_REDUCTIONS.items()
    },
    "_lse_c": {
        "jax": """def _lse_c(a):
    return jnp.broadcast_to(jax.nn.logsumexp(a, axis=-1, keepdims=True), a.shape)""",
        "numpy": """def _lse_c(a):
    m = np.max(a, axis=-1, keepdims=True)
    return np.broadcast_to(m + np.log(np.sum(np.exp(a - m), axis=-1, keepdims=True)), a.shape)""",
        "torch": """def _lse_c(a):
    return torch.logsumexp(a, dim=-1, keepdim=True).expand_as(a)""",
    },
    "_softmax": {
        "numpy": """def _softmax(x):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)"""
    },
    "_log_softmax": {
        "numpy": """def _log_softmax(x):
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))"""
    },
}

# The loss task's derived inputs (tasks/loss.py), and integer labels made one-hot.
_DERIVED = {
    "p": {"jax": "jax.nn.softmax(x)", "numpy": "_softmax(x)", "torch": "torch.softmax(x, -1)"},
    "ls": {
        "jax": "jax.nn.log_softmax(x)",
        "numpy": "_log_softmax(x)",
        "torch": "torch.log_softmax(x, -1)",
    },
}
_ONE_HOT = {
    "jax": "jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)",
    "numpy": "np.eye(logits.shape[-1], dtype=logits.dtype)[labels]",
    "torch": "torch.nn.functional.one_hot(labels, logits.shape[-1]).to(logits.dtype)",
}
_NAME = re.compile(r"\b(_[a-z_]+|EPS|BIG)\b")


def op_template(name: str, backend: str) -> str:
    """The template of op ``name`` for ``backend`` (one of ``BACKENDS``), over ``xp``."""
    entry = OP_TEMPLATES[name]
    return entry if isinstance(entry, str) else entry[backend]


def export_program(spec: ProgramSpec, program: Program, target: str) -> str:
    """Python source that computes ``program`` as its task's component, for ``target``
    (one of ``TARGETS``); see the module docstring for what each task becomes.

    ``ValueError`` for an unknown target, a population instead of one program, or a spec
    that fits no task.

    Example:
      >>> from hivejax._src.tasks.registry import builtin, builtin_spec
      >>> code = export_program(builtin_spec("relu"), builtin("relu"), "torch")
      >>> print(code[code.index("def activation"):])
      def activation(x):
          \"\"\"The activation relu(x), elementwise.\"\"\"
          r0 = torch.relu(x)
          return r0
      <BLANKLINE>
    """
    if target not in TARGETS:
        raise ValueError(f"unknown export target {target!r}; choose one of {', '.join(TARGETS)}")
    if np.ndim(program.length) != 0:
        raise ValueError("export_program takes one program, not a population")
    task = task_of_spec(spec).name
    if target == "sympy":
        return sympy_source(spec, program, task)
    backend = _BACKEND_OF[target]
    canonical = canonicalize(spec, jax.device_get(program))
    body = _Body(spec, canonical, backend)
    formula = formula_of_canonical(spec, canonical)
    write = {"loss": _loss, "activation": _activation, "optimizer": _optimizer}.get(task, _other)
    header = f"# The {task} program {hash_of_canonical(spec, canonical)[:16]}, exported by hivejax."
    return header + "\n" + _module(write(spec, body, formula), backend)


def _literal(value) -> str:
    """A Python float literal that reads back as ``value``'s float32 exactly."""
    f = np.float32(value)
    text = str(f)  # numpy's shortest decimal that reads back as this float32
    return text if np.float32(float(text)) == f else repr(float(f))


class _Body:
    """The straight-line code of one canonical program, for one backend: ``lines`` that
    compute ``outputs`` (the names or expressions of ``r0 ..``) from the inputs in
    ``reads``."""

    def __init__(self, spec: ProgramSpec, canonical: Program, backend: str):
        self.spec, self.backend, self.xp = spec, backend, _XP[backend]
        self.ref = spec.inputs[0]  # an input of the full shape, for full_like
        self.scalars = [v for _, v in spec.named] + list(np.asarray(canonical.consts))
        self.lines: list[str] = []
        self.reads: set[str] = set()
        self.written: set[int] = set()
        written = self.written
        for i in range(int(canonical.length)):
            op = ops.OPS[int(canonical.op[i])]
            dst = int(canonical.dst[i])
            self.lines.append(
                f"r{dst} = " + self._expression(op, canonical.src1[i], canonical.src2[i])
            )
            written.add(dst)
        self.outputs = [f"r{k}" if k in written else self.full("0.0") for k in range(spec.outputs)]

    def _expression(self, op: ops.Op, src1, src2) -> str:
        """The code of ``op`` on two operands, with constants as literals or arrays."""
        sources = [self._source(int(s)) for s in (src1, src2)[: op.arity]]
        (a, a_literal), *rest = sources
        if a_literal and all(literal for _, literal in rest):  # constants only: one array
            sources[0] = (self.full(a), False)
        if self.backend != "jax" and op.name not in _SCALAR_SOURCES:  # takes no scalars
            sources = [(self.full(t) if literal else t, False) for t, literal in sources]
        texts = [t for t, _ in sources]
        template = op_template(op.name, self.backend)
        return _spell(template.format(a=texts[0], b=texts[-1]), self.backend)

    def _source(self, s: int) -> tuple[str, bool]:
        """Operand ``s`` as code, and whether it is a literal."""
        spec = self.spec
        if s < spec.num_inputs:
            self.reads.add(spec.inputs[s])
            return spec.inputs[s], False
        if s < spec.register_base:
            return _literal(self.scalars[s - spec.num_inputs]), True
        if s - spec.register_base not in self.written:  # without named constants: zero
            return "0.0", True
        return f"r{s - spec.register_base}", False

    def full(self, literal: str) -> str:
        """An array of the inputs' shape filled with ``literal``."""
        return f"{self.xp}.full_like({self.ref}, {literal})"


def _function(signature: str, doc: str, lines: list[str], backend: str) -> str:
    """A function's source; numpy's body runs with overflow warnings off (saturation)."""
    pad = "    "
    if backend == "numpy":
        lines = ['with np.errstate(over="ignore"):'] + [pad + line for line in lines]
    body = [f'{pad}"""{doc}"""'] + [pad + line for line in lines]
    return f"def {signature}:\n" + "\n".join(body)


def _loss(spec: ProgramSpec, body: _Body, formula: str) -> str:
    b = body.backend
    lines = ["x = logits"]
    if "y" in body.reads:
        lines.append(f"y = labels if labels.ndim == logits.ndim else {_ONE_HOT[b]}")
    lines += [f"{name} = {_DERIVED[name][b]}" for name in ("p", "ls") if name in body.reads]
    lines += body.lines + [f"return {body.xp}.mean({body.outputs[0]})"]
    doc = (
        f"The loss {formula}, averaged over every element.\n\n"
        "    logits: [..., classes]; labels: one-hot targets of the same shape, or integer\n"
        "    class labels [...].\n    "
    )
    return _function("loss(logits, labels)", doc, lines, b)


def _activation(spec: ProgramSpec, body: _Body, formula: str) -> str:
    lines = body.lines + [f"return {body.outputs[0]}"]
    return _function(
        "activation(x)", f"The activation {formula}, elementwise.", lines, body.backend
    )


def _other(spec: ProgramSpec, body: _Body, formula: str) -> str:
    outs = ", ".join(body.outputs)
    lines = body.lines + [f"return {outs}"]
    signature = f"program({', '.join(spec.inputs)})"
    return _function(signature, f"The program {formula}, elementwise.", lines, body.backend)


def _optimizer(spec: ProgramSpec, body: _Body, formula: str) -> str:
    slots = [
        k
        for k in range(1, optimizer_task.SLOTS + 1)
        if f"s{k}" in body.reads or body.outputs[k] == f"r{k}"
    ]
    slot_names = [f"s{k}" for k in slots]
    args = ["g"] + ["p"] * ("p" in body.reads) + slot_names + ["t"] * ("t" in body.reads)
    lines = [f"t = {body.xp}.full_like(g, t)"] * ("t" in body.reads) + body.lines
    returned = [body.outputs[0]] + [body.outputs[k] for k in slots]
    lines.append(f"return {_targets(returned)}")
    doc = (
        f"{formula}\n\n    The update direction and the new slots "
        f"({', '.join(slot_names) or 'none'}) of one tensor, elementwise.\n    "
    )
    rule = _function(f"update_rule({', '.join(args)})", doc, lines, body.backend)
    wrap = {"jax": _optax_wrapper, "numpy": _numpy_wrapper, "torch": _torch_wrapper}
    return rule + "\n\n\n" + wrap[body.backend](body.reads, slot_names)


def _call(reads: set[str], grad: str, param: str, slots: list[str], step: str) -> str:
    """The update rule's call: ``(g, [p,] *slots, [t])``."""
    args = [grad] + [param] * ("p" in reads) + slots + [step] * ("t" in reads)
    return f"update_rule({', '.join(args)})"


def _targets(names: list[str]) -> str:
    """Assignment targets that unpack a tuple, even of one."""
    return ", ".join(names) + ("," if len(names) == 1 else "")


def _optax_wrapper(reads: set[str], slots: list[str]) -> str:
    n = len(slots)
    needs_params = "p" in reads
    trees = ["updates"] + ["params"] * needs_params + ["*state.slots"]
    call = _call(reads, "g", "p", ["*s"], "t")
    lambda_args = ", ".join(["g"] + ["p"] * needs_params + ["*s"])
    step = "        t = count.astype(jnp.float32)\n" if "t" in reads else ""
    check = (
        "        if params is None:\n"
        '            raise ValueError("this update rule reads the parameters: pass params")\n'
        if needs_params
        else ""
    )
    return f'''class ProgramState(NamedTuple):
    count: jax.Array  # updates so far
    slots: tuple  # {", ".join(slots) or "no slots"}: trees shaped like the parameters


def optimizer(learning_rate: float) -> optax.GradientTransformation:
    """The update rule as an optax optimizer: parameters move by -learning_rate * r0."""

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return ProgramState(jnp.zeros((), jnp.int32), (zeros,) * {n})

    def update(updates, state, params=None):
{check}        count = state.count + 1
{step}        out = jax.tree.map(lambda {lambda_args}: {call}, {", ".join(trees)})
        pick = lambda k: jax.tree.map(lambda _, o: o[k], updates, out)
        direction = jax.tree.map(lambda d: -learning_rate * d, pick(0))
        return direction, ProgramState(count, tuple(pick(k) for k in range(1, {n + 1})))

    return optax.GradientTransformation(init, update)'''


def _numpy_wrapper(reads: set[str], slots: list[str]) -> str:
    zeros = "".join(f', "{s}": np.zeros_like(param)' for s in slots)
    new = _targets(["direction", *slots])
    call = _call(reads, "grad", "param", [f'state["{s}"]' for s in slots], "count")
    kept = "".join(f', "{s}": {s}' for s in slots)
    return f'''def init(param):
    """The optimizer state of one parameter array: the step count and the slots."""
    return {{"step": 0{zeros}}}


def step(param, grad, state, learning_rate):
    """One update of one parameter array: the new array and the new state."""
    count = state["step"] + 1
    {new} = {call}
    return param - learning_rate * direction, {{"step": count{kept}}}'''


def _torch_wrapper(reads: set[str], slots: list[str]) -> str:
    zeros = "".join(f'\n                    state["{s}"] = torch.zeros_like(param)' for s in slots)
    new = _targets(["direction", *(f'state["{s}"]' for s in slots)])
    call = _call(reads, "param.grad", "param", [f'state["{s}"]' for s in slots], 'state["step"]')
    return f'''class ProgramOptimizer(torch.optim.Optimizer):
    """The update rule as a torch optimizer: parameters move by -lr * r0."""

    def __init__(self, params, lr):
        super().__init__(params, {{"lr": lr}})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if not state:
                    state["step"] = 0{zeros}
                state["step"] += 1
                {new} = {call}
                param.add_(direction, alpha=-group["lr"])
        return loss'''


def _module(code: str, backend: str) -> str:
    """``code`` with the helpers it calls and the imports it needs, as one module."""
    needed: set[str] = set()
    todo = set(_NAME.findall(code))
    while todo:
        name = todo.pop()
        if name in HELPERS and name not in needed:
            needed.add(name)
            todo |= set(_NAME.findall(_helper(name, backend)))
    helpers = [_helper(name, backend) for name in HELPERS if name in needed]
    constants = [h for h in helpers if not h.startswith("def ")]
    functions = [h for h in helpers if h.startswith("def ")]
    parts = ["\n".join(constants)] * bool(constants) + functions + [code]
    text = "\n\n\n".join(parts)
    imports = [
        line
        for line, pattern in (
            ("from typing import NamedTuple\n", r"\bNamedTuple\b"),
            ("import jax", r"\bjax\."),
            ("import jax.numpy as jnp", r"\bjnp\."),
            ("import numpy as np", r"\bnp\."),
            ("import optax", r"\boptax\."),
            ("import torch", r"\btorch\."),
        )
        if re.search(pattern, text)
    ]
    return "\n".join(imports) + "\n\n" + text + "\n"


def _helper(name: str, backend: str) -> str:
    entry = HELPERS[name]
    return _spell(entry if isinstance(entry, str) else entry[backend], backend)


def _spell(text: str, backend: str) -> str:
    """``text`` with the namespace ``xp`` spelled as ``backend``'s module."""
    return re.sub(r"\bxp\.", _XP[backend] + ".", text)
