"""Imports flow one way: down the stages, with no cycles and no imports hidden in functions.

Three checks. Statically, over the source: every module belongs to one of ``LAYERS`` and
imports only from its own layer or those before it; the graph of imports between
``hivejax`` modules, imports inside functions included, has no cycle; and a
function-level import is allowed only for the listed reasons. At run time, every module
is imported first in a fresh interpreter, as a user's program might, so an entry point
that only works after another module was imported fails here.
"""

import ast
import importlib.util
import os
import pathlib
import subprocess
import sys

import hivejax
import hivejax.kernels

ROOT = pathlib.Path(hivejax.__file__).parent
KERNELS = pathlib.Path(hivejax.kernels.__file__).parent

LAYERS = (
    ("program", ("hivejax._src.program",)),
    ("interpret", ("hivejax._src.interpret", "hivejax.kernels")),
    ("tasks", ("hivejax._src.tasks",)),
    ("io", ("hivejax._src.io",)),
    ("evaluation", ("hivejax._src.evaluation",)),
    ("search", ("hivejax._src.search",)),
    ("run", ("hivejax._src.run",)),
    ("subnet", ("hivejax._src.subnet",)),
    ("plotting", ("hivejax._src.plotting",)),
    ("bench", ("hivejax._src.bench",)),
    ("public API", ("=hivejax", "hivejax.subnet", "hivejax.bench")),
    ("cli", ("hivejax.cli", "hivejax.__main__")),
)
"""The stages a program passes through, lowest first: a module may import from its own
layer and those above it in this list, never from one below. ``=NAME`` is that module
alone; any other entry is a package with everything under it."""
# Modules of an optional extra, by the package they need; only they may import it.
EXTRAS = {
    "hivejax._src.subnet.bittensor_chain": "bittensor",
    "hivejax._src.plotting.figures": "matplotlib",
}

# Function-level imports that must stay late, each with its reason (and a comment in place).
LATE = {
    ("hivejax._src.search.const_tuning", "evosax.algorithms"): "initialises JAX's backends",
    ("hivejax._src.evaluation.scores", "scipy"): "slow to import, only statistics need it",
    ("hivejax._src.tasks.data", "mnist1d.data"): "slow to import, only one data set needs it",
    ("hivejax._src.tasks.data", "sklearn.datasets"): "slow to import, only one data set needs it",
    ("hivejax._src.subnet.connect", "hivejax._src.subnet.bittensor_chain"): "the [neurons] "
    "extra: only a network chain needs bittensor",
    ("hivejax._src.plotting.figures", "matplotlib"): "the [plots] extra: only drawing a "
    "figure needs it",
    ("hivejax.kernels.interpreter", "jax.experimental.pallas"): "Mosaic GPU is slow to import, "
    "only the GPU layout needs it",
    ("hivejax._src.io.symbolic", "sympy"): "slow to import, only a program's sympy form needs it",
    ("hivejax._src.bench.nguyen", "sympy"): "slow to import, only the recovery check needs it",
}


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for package, root in (("hivejax", ROOT), ("hivejax.kernels", KERNELS)):
        for path in root.rglob("*.py"):
            parts = (package, *path.relative_to(root).with_suffix("").parts)
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _layer(name: str) -> int | None:
    """The index in ``LAYERS`` of module ``name`` (None for the empty ``hivejax._src``)."""
    for i, (_, members) in enumerate(LAYERS):
        for m in members:
            if name == m.lstrip("=") or (not m.startswith("=") and name.startswith(m + ".")):
                return i
    return None


def test_every_module_has_a_layer_and_no_import_climbs():
    modules = _modules()
    climbs = []
    for name, path in modules.items():
        own = _layer(name)
        if own is None:
            assert name == "hivejax._src", f"{name} is in no layer: add its folder to LAYERS"
            continue
        for target, _ in _imports(path):
            if target in modules and target != "hivejax._src" and _layer(target) > own:
                climbs.append(
                    f"{name} ({LAYERS[own][0]}) imports {target} ({LAYERS[_layer(target)][0]})"
                )
    assert not climbs, "imports that climb:\n" + "\n".join(climbs)


def _imports(path: pathlib.Path):
    """``(imported module, inside a function)`` for every import statement of a module."""
    functions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, in_function
            elif isinstance(child, ast.ImportFrom):
                assert child.level == 0, f"{path}: relative import"
                yield child.module, in_function
                for alias in child.names:  # `from package import module`
                    yield f"{child.module}.{alias.name}", in_function
            yield from visit(child, in_function or isinstance(child, functions))

    yield from visit(ast.parse(path.read_text()), False)


def test_no_import_cycles_and_no_hidden_imports():
    modules = _modules()
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        for target, in_function in _imports(path):
            if in_function:
                allowed = any(m == name and target.startswith(t) for m, t in LATE)
                assert allowed, f"{name} imports {target} inside a function"
            if target in modules and target != name:
                graph[name].add(target)
    # The public package re-exports the implementation; the implementation never imports it.
    for name, targets in graph.items():
        if name.startswith("hivejax._src"):
            assert not any(t == "hivejax" or t.startswith("hivejax.cli") for t in targets), name

    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_cli_imports_only_the_public_api():
    # The command line parses, calls and prints; what it calls is what users can call.
    private = [
        f"{name} imports {target}"
        for name, path in _modules().items()
        if name.startswith("hivejax.cli")
        for target, _ in _imports(path)
        if target.startswith("hivejax._src")
    ]
    assert not private, "\n".join(private)


def test_only_their_modules_import_the_extras():
    # The core must import without them: they are extras.
    for name, path in _modules().items():
        for target, _ in _imports(path):
            package = target.split(".")[0]
            if package in EXTRAS.values():
                assert EXTRAS.get(name) == package, f"{name} imports {target}, an optional extra"


# Each module is imported first in an interpreter that has imported no hivejax module, as
# a user's program might. Starting a whole interpreter per module costs seconds of importing
# jax, flax and optax each time, so one interpreter imports those dependencies once and
# forks a child per module (as many at once as there are cores), with no hivejax module
# loaded yet. Only dependencies every import of hivejax loads anyway are imported first;
# late imports (evosax, scipy, mnist1d, scikit-learn) stay late, and evosax would start
# JAX's backends, which must not precede a fork.
#
# Python imports a module's parent packages before the module itself, so a fresh
# interpreter importing ``a.b.c`` first runs exactly ``import a.b`` and then ``a.b.c``.
# The modules of one package are therefore imported by children forked from a process
# that has imported that package (and nothing else of hivejax): the same state, paid once
# per package rather than once per module (``hivejax.cli.bench`` loads scipy.stats, seconds).
_FORKING_IMPORTER = """
import ast, importlib, os, sys, traceback
import jax, jax.numpy, numpy, flax.linen, optax, orbax.checkpoint, rich
import jax.experimental.pallas, jax.experimental.pallas.tpu
assert not any(m == "hivejax" or m.startswith("hivejax.") for m in sys.modules)

def start(running, label, work):
    \"\"\"Run ``work()`` in a child, which reports its result (or traceback) in a pipe.\"\"\"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            report = work()
        except BaseException:
            os.write(write, traceback.format_exc()[-500:].encode())
            os._exit(1)
        os.write(write, report.encode())
        os._exit(0)
    os.close(write)
    running[pid] = label, read

def wait(running):
    \"\"\"Wait for one child of ``running``: its label, status and report.\"\"\"
    pid, status = os.wait()
    label, read = running.pop(pid)
    message = b"".join(iter(lambda: os.read(read, 4096), b"")).decode()
    os.close(read)
    return label, status, message

def import_each(package, names):
    \"\"\"Import ``package``, then each of ``names`` first in a child of its own.\"\"\"
    if package:
        importlib.import_module(package)
    running, failures = {}, []
    while names or running:
        while names and len(running) < (os.cpu_count() or 2):
            name = names.pop()
            start(running, name, lambda: str(importlib.import_module(name))[:0])
        name, status, message = wait(running)
        if status != 0:
            failures.append((name, message))
    return repr(failures)

groups = {}
for name in sys.argv[1:]:
    groups.setdefault(name.rpartition(".")[0], []).append(name)
running, failures = {}, []
for package, names in sorted(groups.items()):
    start(running, package, lambda: import_each(package, names))
    package, status, message = wait(running)
    if status != 0:  # the package itself failed: its modules were not tried
        failures.append((package, message))
    else:
        failures += ast.literal_eval(message)
print(repr(failures))
"""


def _loaded_by(name: str, modules: dict) -> set[str]:
    """The hivejax modules that importing ``name`` loads: its module-level imports, their
    parent packages' too, transitively."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen or current not in modules:
            continue
        seen.add(current)
        parents = [".".join(current.split(".")[:i]) for i in range(1, current.count(".") + 1)]
        todo += parents + [t for t, late in _imports(modules[current]) if not late]
    return seen


def test_every_module_imports_first_in_a_fresh_interpreter():
    # Importing any module runs its package's __init__ first, so a module that ``import
    # hivejax`` loads is, imported first, imported exactly as ``import hivejax`` imports it:
    # one child covers them all, and each other module gets its own.
    modules = _modules()
    available = {
        name
        for name in modules
        if name not in EXTRAS or importlib.util.find_spec(EXTRAS[name]) is not None
    }
    covered = _loaded_by("hivejax", modules)
    names = sorted((available - covered) | {"hivejax"})
    assert len(covered) > 30 and len(names) > 20
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", _FORKING_IMPORTER, *names],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    failures = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert not failures, failures
