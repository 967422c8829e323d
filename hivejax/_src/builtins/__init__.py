"""Known programs, addressable as ``builtin:NAME``: the hand-designed losses, activations
and optimizer update rules.

They are the reference points of a search: the baseline a discovered program must beat,
seeds for an initial population, and fixtures whose meaning is known exactly (the tests
compare them with optax and ``jax.nn``). Names are unique across tasks, so a name alone
says which task a builtin belongs to (``TASK_OF``) and which program shape it has by
default.
"""

from collections.abc import Callable

from hivejax._src.builtins.activations import ACTIVATIONS
from hivejax._src.builtins.losses import LOSSES
from hivejax._src.builtins.optimizers import OPTIMIZERS
from hivejax._src.program import Program, ProgramSpec

_BY_TASK = {"loss": LOSSES, "activation": ACTIVATIONS, "optimizer": OPTIMIZERS}
BUILTINS: dict[str, Callable[[ProgramSpec], Program]] = {
    name: fn for table in _BY_TASK.values() for name, fn in table.items()
}
TASK_OF: dict[str, str] = {name: task for task, table in _BY_TASK.items() for name in table}


def default_spec(name: str) -> ProgramSpec:
    """The program shape of the task builtin ``name`` belongs to."""
    from hivejax._src.tasks.registry import TASK_TYPES

    if name not in BUILTINS:
        raise ValueError(f"unknown builtin {name!r}; valid names: {', '.join(BUILTINS)}")
    return TASK_TYPES[TASK_OF[name]].default_spec


def builtin(name: str, spec: ProgramSpec | None = None) -> Program:
    """The builtin ``name`` as a program of ``spec`` (default: its task's spec).

    Example:
      >>> p = builtin("cross_entropy")
      >>> int(p.length)
      5
    """
    want = default_spec(name)
    spec = spec or want
    if spec.inputs != want.inputs or spec.outputs != want.outputs:
        raise ValueError(
            f"builtin {name!r} ({TASK_OF[name]}) reads inputs {want.inputs} and writes "
            f"{want.outputs} output(s); the spec has inputs {spec.inputs} and "
            f"{spec.outputs} output(s)"
        )
    return BUILTINS[name](spec)
