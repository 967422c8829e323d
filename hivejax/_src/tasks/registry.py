"""The tasks by name: what ``--task`` chooses."""

from hivejax._src.tasks.activation import ActivationTask
from hivejax._src.tasks.base import ProgramTask
from hivejax._src.tasks.loss import LossTask
from hivejax._src.tasks.optimizer import OptimizerTask
from hivejax._src.tasks.training import TrainConfig

TASK_TYPES: dict[str, type[ProgramTask]] = {
    t.name: t for t in (LossTask, ActivationTask, OptimizerTask)
}
TASKS = tuple(TASK_TYPES)


def make_task(name: str, train: TrainConfig | None = None, **kw) -> ProgramTask:
    """The task ``name`` (one of ``TASKS``) with the training protocol ``train`` (default
    ``TrainConfig()``)."""
    if name not in TASK_TYPES:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASK_TYPES[name](train=train or TrainConfig(), **kw)
