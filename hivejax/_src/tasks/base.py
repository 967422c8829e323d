"""What every task shares: a program becomes one component of a vmapped training run.

A task names the component its programs replace (the loss, the hidden activation or the
optimizer's update rule), the program shape that component reads and writes, and the
hand-designed component it is scored against. Fitness is test accuracy after a short
training run (``training.train_population``) whose other two components are the
baseline's, and the baseline itself (cross-entropy, ReLU, Adam) trains under the same
keys, so every comparison is paired.
"""

import dataclasses
from typing import ClassVar

import jax

from hivejax._src.interpret import chunks, dispatch
from hivejax._src.program.program import Program, ProgramSpec
from hivejax._src.tasks import training
from hivejax._src.tasks.data import Dataset
from hivejax._src.tasks.training import TrainConfig


@dataclasses.dataclass(frozen=True)
class ProgramTask:
    """A search task. Subclasses set ``name``, ``baseline``, ``default_spec`` and
    ``components``.

    Attributes:
      train: the inner-training protocol.
      spec: program capacities (default: ``default_spec``); its inputs, outputs and op set
        must be the task's, its sizes may differ.
      interpreter: one of ``dispatch.CHOICES``; ``"auto"`` picks per backend
        (``dispatch.resolve``), ``"reference"`` is plain jnp autodiff.
      chunk_size: train at most this many programs at once (``chunks.py``; None: the
        whole population), to bound memory; the accuracies are the same.
    """

    train: TrainConfig = TrainConfig()
    spec: ProgramSpec | None = None
    interpreter: str = "auto"
    chunk_size: int | None = None

    name: ClassVar[str]
    baseline: ClassVar[str]  # the builtin program that is the hand-designed component
    default_spec: ClassVar[ProgramSpec]
    input_layouts: ClassVar[tuple[tuple[str, ...], ...]] = ()  # others the task accepts

    def __post_init__(self):
        if self.spec is None:
            object.__setattr__(self, "spec", self.default_spec)
        self.check_spec(self.spec)
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1 (or None), got {self.chunk_size}")
        dispatch.check(self.interpreter)

    @classmethod
    def fits(cls, spec: ProgramSpec) -> bool:
        """Whether programs of ``spec`` can be this task's component: the task's inputs (or
        one of its other ``input_layouts``), outputs and op set (capacities may differ)."""
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

    def components(self, outputs) -> dict:
        """Keyword arguments of ``train_population`` that make a member's program a component.

        ``outputs(program, *inputs)`` runs one program and returns its outputs stacked.
        """
        raise NotImplementedError

    def accuracy(
        self, programs: Program, data: Dataset, key: jax.Array, data_axis: str | None = None
    ) -> jax.Array:
        """Test accuracy ``[P]`` of each program as the task's component; NaN where it broke.

        ``data_axis``: split each batch over this mesh axis (see ``train_population``).
        """

        def train(programs):
            programs, run = dispatch.population_runner(self.interpreter, self.spec, programs)
            return training.train_population(
                self.train, programs, data, key, data_axis, **self.components(run)
            )

        return chunks.in_chunks(train, programs, self.chunk_size)

    def baseline_accuracy(self, data: Dataset, key: jax.Array, copies: int = 1) -> jax.Array:
        """Accuracy of the baseline under ``key``, ``copies`` times (the hard-coded ceiling)."""
        return training.baseline_accuracy(self.train, data, key, copies)
