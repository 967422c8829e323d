"""The tasks by name (what ``--task`` chooses), and the builtins by the task they belong to.

The registry sits above both the tasks and the builtin programs, so it is where a builtin
gets its default shape: the spec of the task it belongs to.

``TASKS`` are the training tasks, whose programs are components of a network: every
protocol, the subnet and the conformance suite cover each of them. Symbolic regression
(``tasks/regression.py``) is a search workload beside them, not one of them; its
programs still load (``task_of_spec``), and ``hivejax evolve --task regression`` runs it.
"""

from hivejax._src.program.program import Program, ProgramSpec
from hivejax._src.tasks.activation import ActivationTask
from hivejax._src.tasks.base import ProgramTask, Task
from hivejax._src.tasks.builtins import BUILTINS, TASK_OF
from hivejax._src.tasks.loss import LossTask
from hivejax._src.tasks.optimizer import OptimizerTask
from hivejax._src.tasks.regression import RegressionTask
from hivejax._src.tasks.training import TrainConfig

TASK_TYPES: dict[str, type[ProgramTask]] = {
    t.name: t for t in (LossTask, ActivationTask, OptimizerTask)
}
TASKS = tuple(TASK_TYPES)

SEARCHABLE: dict[str, type[Task]] = {**TASK_TYPES, RegressionTask.name: RegressionTask}
"""Every task a search can run (``evolve --task``): the training tasks and regression."""


def _lookup(registry: dict, name: str):
    if name not in registry:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(registry)}")
    return registry[name]


def task_type(name: str) -> type[ProgramTask]:
    """The training task class ``name`` (one of ``TASKS``); ``ValueError`` lists the choices."""
    return _lookup(TASK_TYPES, name)


def searchable_task(name: str) -> type[Task]:
    """The task class ``name`` (one of ``SEARCHABLE``); ``ValueError`` lists the choices."""
    return _lookup(SEARCHABLE, name)


def make_task(name: str, train: TrainConfig | None = None, **kw) -> ProgramTask:
    """The task ``name`` (one of ``TASKS``) with the training protocol ``train`` (default
    ``TrainConfig()``)."""
    return task_type(name)(train=train or TrainConfig(), **kw)


def task_of_spec(spec: ProgramSpec) -> type[ProgramTask]:
    """The task whose programs have ``spec``'s inputs, outputs and op set (a training task
    first, then ``RegressionTask``).

    A program that fits no task cannot be trained, shown as a component or scored, so
    loaders refuse it with this ``ValueError``.

    Example:
      >>> task_of_spec(ProgramSpec(inputs=("x",), op_set="elementwise")).name
      'activation'
    """
    for task in SEARCHABLE.values():
        if task.fits(spec):
            return task
    shapes = "; ".join(
        f"{t.name}: inputs {', '.join(t.default_spec.inputs)}, {t.default_spec.outputs} "
        f"output(s), {t.default_spec.op_set} ops"
        for t in TASK_TYPES.values()
    )
    shapes += "; regression: inputs x or x, y, 1 output, koza or elementwise ops"
    raise ValueError(
        f"a program with inputs {', '.join(spec.inputs)}, {spec.outputs} output(s) and "
        f"{spec.op_set} ops fits no task ({shapes})"
    )


def _task_of_builtin(name: str) -> type[ProgramTask]:
    if name not in BUILTINS:
        raise ValueError(f"unknown builtin {name!r}; valid names: {', '.join(BUILTINS)}")
    return TASK_TYPES[TASK_OF[name]]


def builtin_names(task: str) -> tuple[str, ...]:
    """The builtins that are programs of task ``task`` (one of ``TASKS``)."""
    task_type(task)
    return tuple(name for name, of in TASK_OF.items() if of == task)


def builtin_spec(name: str) -> ProgramSpec:
    """The default program shape of builtin ``name``: its task's spec."""
    return _task_of_builtin(name).default_spec


def builtin(name: str, spec: ProgramSpec | None = None) -> Program:
    """The builtin ``name`` as a program of ``spec`` (default: its task's spec).

    Example:
      >>> p = builtin("cross_entropy")
      >>> int(p.length)
      5
    """
    task = _task_of_builtin(name)  # refuses unknown names
    spec = spec or task.default_spec
    try:
        task.check_spec(spec)
    except ValueError as e:
        raise ValueError(f"builtin {name!r}: {e}") from None
    return BUILTINS[name](spec)
