"""Known programs, addressable as ``builtin:NAME``: the hand-designed losses, activations
and optimizer update rules.

They are the reference points of a search: the baseline a discovered program must beat,
seeds for an initial population, and fixtures whose meaning is known exactly (the tests
compare them with optax and ``jax.nn``). Names are unique across tasks, so a name alone
says which task a builtin belongs to (``TASK_OF``); the task registry gives it its default
shape (``tasks.registry.builtin``).
"""

from collections.abc import Callable

from hivejax._src.program.program import Program, ProgramSpec
from hivejax._src.tasks.builtins.activations import ACTIVATIONS
from hivejax._src.tasks.builtins.losses import LOSSES
from hivejax._src.tasks.builtins.optimizers import OPTIMIZERS

_BY_TASK = {"loss": LOSSES, "activation": ACTIVATIONS, "optimizer": OPTIMIZERS}
BUILTINS: dict[str, Callable[[ProgramSpec], Program]] = {
    name: fn for table in _BY_TASK.values() for name, fn in table.items()
}
TASK_OF: dict[str, str] = {name: task for task, table in _BY_TASK.items() for name in table}
