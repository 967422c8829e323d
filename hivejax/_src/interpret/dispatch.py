"""Which interpreter runs a population's programs, chosen per backend from measurements.

Four interpreters give every program the same meaning (tested against the reference):

- ``reference`` (``reference.py``): plain jnp, JAX's autodiff through every op;
- ``fused`` (``fused.py``): live instructions only, a fused backward pass, a loop over
  the population;
- ``select`` (``fused.py``, ``vectorised=True``): the same passes, vectorised across the
  population, selecting by op code per instruction slot;
- ``pallas`` (``hivejax.kernels.interpreter``): the fused passes as one Pallas kernel over
  tiles of programs.

``auto`` resolves through ``MEASURED``, one entry per backend with the figures that chose
it, the card and the date. A backend without an entry gets ``UNMEASURED_DEFAULT``.
"""

import jax

from hivejax._src.interpret import fused, reference
from hivejax._src.program.program import Program, ProgramSpec
from hivejax.kernels import interpreter as kernel

NAMES = ("fused", "select", "pallas", "reference")
CHOICES = ("auto", *NAMES)

MEASURED = {
    "cpu": (
        "fused",
        "2-core AMD EPYC, JAX 0.10.2, 2026-11-28: `hivejax bench --interpreter all`, "
        "population 256 on the benchmark protocol",
    ),
}
"""Backend → (interpreter, what measured it). Add a row when a card is measured."""

UNMEASURED_DEFAULT = "select"
"""For a backend with no measurement (GPU, TPU): the vectorised interpreter. Its work per
slot is wide and uniform, what an accelerator is built for; the fused one's loop over
programs is a sequence of small dispatches there. The Pallas kernel is not the default
until it has been compiled and measured on a card (only its interpret mode ran so far)."""


def check(name: str) -> None:
    """Raise ``ValueError`` naming the choices unless ``name`` is one (starts no backend)."""
    if name not in CHOICES:
        raise ValueError(f"interpreter must be one of {', '.join(CHOICES)}, got {name!r}")


def resolve(name: str, backend: str | None = None) -> str:
    """The interpreter ``name`` stands for on ``backend`` (default: JAX's default backend,
    which this starts). Raises ``ValueError`` naming the choices for an unknown name.
    """
    check(name)
    if name != "auto":
        return name
    backend = backend or jax.default_backend()
    return MEASURED.get(backend, (UNMEASURED_DEFAULT, ""))[0]


def population_runner(name: str, spec: ProgramSpec, programs: Program):
    """``(programs, outputs)`` for running ``programs`` with interpreter ``name``.

    The programs come back prepared (compacted for the fused passes);
    ``outputs(program, *inputs)`` runs one of them, and is meant to be ``vmap``-ed over
    the population, as ``training.train_population`` does.
    """
    name = resolve(name)
    if name == "reference":
        return programs, lambda p, *inputs: reference.outputs(spec, p, inputs)
    programs, _ = jax.vmap(lambda p: fused.compact(spec, p))(programs)
    if name == "pallas":
        return programs, lambda p, *inputs: kernel.outputs(spec, p, inputs)
    vectorised = name == "select"
    return programs, lambda p, *inputs: fused.outputs(spec, p, inputs, vectorised)
