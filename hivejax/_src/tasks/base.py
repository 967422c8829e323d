"""What every task shares: the fitness interface a search runs on, and the training tasks.

``Task`` is the interface the search, the run and the final scoring see: a score per
program (maximised, NaN where a program broke), the baseline's score under the same key,
the data it reads, and what a run reports beyond the scores. Two kinds implement it:

- ``ProgramTask``, the training tasks: a program becomes one component of a vmapped
  training run (the loss, the hidden activation or the optimizer's update rule), whose
  other two components are the baseline's. Its score is validation (or test) accuracy,
  and the baseline (cross-entropy, ReLU, Adam) trains under the same keys, so every
  comparison is paired.
- ``RegressionTask`` (``regression.py``): a program is a formula fitted to a benchmark;
  nothing trains, and the score is ``1 / (2 - R²)``.

``Task.trains`` says which kind a task is: the rejection cascade, fingerprints and
hurdles judge how a component trains, so they apply only where programs train.
"""

import abc
import dataclasses
import os
from typing import ClassVar

import jax
import jax.numpy as jnp

from hivejax._src.interpret import chunks, dispatch
from hivejax._src.program.program import Program, ProgramSpec
from hivejax._src.tasks import training
from hivejax._src.tasks.data import Dataset, load_dataset
from hivejax._src.tasks.training import TrainConfig


def seed_keys(seeds) -> jax.Array:
    """The keys ``[S]`` that integer ``seeds`` stand for: seed ``s`` is ``jax.random.key(s)``,
    wherever a score is paired, a protocol scores or a run re-scores its finalists.

    Example:
      >>> seed_keys([0, 1]).shape
      (2,)
    """
    return jnp.stack([jax.random.key(int(s)) for s in seeds])


@dataclasses.dataclass(frozen=True, kw_only=True)
class Task(abc.ABC):
    """The fitness interface every task implements. Subclasses set ``name``,
    ``baseline``, ``default_spec`` and ``trains``.

    Attributes:
      spec: program capacities (default: ``default_spec``); its inputs, outputs and op set
        must be the task's, its sizes may differ.
      interpreter: one of ``dispatch.CHOICES``; ``"auto"`` picks per backend
        (``dispatch.resolve``), ``"reference"`` is plain jnp autodiff.
      chunk_size: score at most this many programs at once (``chunks.py``; None: the
        whole population), to bound memory; the scores are the same.
    """

    spec: ProgramSpec | None = None
    interpreter: str = "auto"
    chunk_size: int | None = None

    name: ClassVar[str]
    baseline: ClassVar[str]  # what the scores are paired with
    default_spec: ClassVar[ProgramSpec]
    input_layouts: ClassVar[tuple[tuple[str, ...], ...]] = ()  # others the task accepts
    derived_spec: ClassVar[ProgramSpec | None] = None  # with derived inputs, where it has any
    trains: ClassVar[bool]  # programs are components of a training run

    def __post_init__(self):
        if self.spec is None:
            object.__setattr__(self, "spec", self.default_spec)
        self.check_spec(self.spec)
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1 (or None), got {self.chunk_size}")
        dispatch.check(self.interpreter)

    @classmethod
    def fits(cls, spec: ProgramSpec) -> bool:
        """Whether programs of ``spec`` can be this task's: the task's inputs (or one of
        its other ``input_layouts``), outputs and op set (capacities may differ)."""
        want = cls.default_spec
        inputs = spec.inputs in (want.inputs, *cls.input_layouts)
        return inputs and (spec.outputs, spec.op_set) == (want.outputs, want.op_set)

    @classmethod
    def check_spec(cls, spec: ProgramSpec) -> None:
        """Raise ``ValueError`` naming both shapes unless ``fits(spec)``."""
        if not cls.fits(spec):
            want = cls.default_spec
            raise ValueError(
                f"the {cls.name} task takes programs with inputs {want.inputs}, "
                f"{want.outputs} output(s) and the {want.op_set!r} op set; got inputs "
                f"{spec.inputs}, {spec.outputs} output(s), {spec.op_set!r}"
            )

    @classmethod
    @abc.abstractmethod
    def for_run(cls, *, train: TrainConfig, problem: str | None, **kw) -> "Task":
        """The task a search run of ``train`` (the inner training) and ``problem`` (what a
        formula search fits) evaluates; ``ValueError`` for a setting it does not take.
        ``kw``: the ``Task`` fields."""

    @abc.abstractmethod
    def score(
        self, programs: Program, data: Dataset | None, key: jax.Array, data_axis: str | None = None
    ) -> jax.Array:
        """The score ``[P]`` of each program under ``key``, in ``[0, 1]`` and maximised;
        NaN where a program broke. ``data_axis``: a mesh axis that splits each batch."""

    @abc.abstractmethod
    def baseline_score(self, data: Dataset | None, key: jax.Array, copies: int = 1) -> jax.Array:
        """The baseline's score under ``key``, ``copies`` times."""

    @abc.abstractmethod
    def load_data(self, dataset: str, data_dir: str | os.PathLike | None = None) -> Dataset | None:
        """The data set a run of this task scores on (None where it needs none)."""

    @abc.abstractmethod
    def for_final_scoring(self) -> "Task":
        """The task that scores a run's winner on held-out data."""

    def protocol(self) -> dict | None:
        """The protocol a search of this task selects under, where the task itself defines
        one (None: a training task, whose protocol is the run's data set and training)."""
        return None

    def report(self, program: Program, search_key: jax.Array, final_seeds) -> dict:
        """What a run's ``summary.json`` says of its best ``program`` beyond the paired
        scores on ``final_seeds`` (none by default)."""
        return {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProgramTask(Task):
    """A training task. Subclasses set ``name``, ``baseline``, ``default_spec`` and
    ``components``.

    Attributes:
      train: the inner-training protocol.
      spec, interpreter, chunk_size: as for every task (``Task``).
    """

    train: TrainConfig = TrainConfig()

    trains = True

    @classmethod
    def for_run(cls, *, train: TrainConfig, problem: str | None, **kw) -> "ProgramTask":
        """This task on ``train``; a training task fits no ``problem``."""
        if problem is not None:
            raise ValueError(f"problem is a setting of task 'regression', not {cls.name!r}")
        return cls(train=train, **kw)

    def components(self, outputs) -> dict:
        """Keyword arguments of ``train_population`` that make a member's program a component.

        ``outputs(program, *inputs)`` runs one program and returns its outputs stacked.
        """
        raise NotImplementedError

    def score(
        self, programs: Program, data: Dataset, key: jax.Array, data_axis: str | None = None
    ) -> jax.Array:
        """Accuracy ``[P]`` of each program as the task's component, on the validation part
        of the training set (the test set when ``train.validation`` is 0); NaN where its
        training broke.
        """

        def train(programs):
            programs, run = dispatch.population_runner(self.interpreter, self.spec, programs)
            return training.train_population(
                self.train, programs, data, key, data_axis, **self.components(run)
            )

        return chunks.in_chunks(train, programs, self.chunk_size)

    def baseline_score(self, data: Dataset, key: jax.Array, copies: int = 1) -> jax.Array:
        """Accuracy of the baseline under ``key``, ``copies`` times (the hard-coded ceiling)."""
        return training.baseline_accuracy(self.train, data, key, copies)

    def load_data(self, dataset: str, data_dir: str | os.PathLike | None = None) -> Dataset:
        """``load_dataset(dataset, data_dir)``."""
        return load_dataset(dataset, data_dir)

    def for_final_scoring(self) -> "ProgramTask":
        """This task trained on the whole training set and scored on the test set."""
        return dataclasses.replace(self, train=dataclasses.replace(self.train, validation=0.0))

    def with_steps(self, steps: int) -> "ProgramTask":
        """This task on a shorter (or longer) training budget: a hurdle's."""
        return dataclasses.replace(self, train=dataclasses.replace(self.train, steps=steps))
