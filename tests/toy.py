"""The suite's one toy run: every end-to-end test that can shares its shapes.

A run's compiled steps depend on its shapes (population, training steps, batch, model),
its seed and its device count, and the session's persistent compilation cache
(conftest.py) keys on exactly those. A toy run of a shape the session has already compiled
costs about 5 s instead of about 45 s, so end-to-end tests take ``TOY`` (or ``TOY_FLAGS``
for the CLI) and change only what they test. The CLI is best called in process
(``hivejax.cli.main.main(argv)``): a subprocess shares only the slow compiles, through the
disk cache, and pays its imports and every small compile again (about 27 s against 6 s
for a toy run already compiled).
"""

from hivejax._src.run.config import EvolveConfig, FinishConfig
from hivejax._src.tasks.training import TrainConfig

TOY = EvolveConfig(
    dataset="digits",
    population=8,
    generations=2,
    seed=0,
    train=TrainConfig(steps=5),
    finish=FinishConfig(final_seeds=1, funnel=2),
)
TOY_FLAGS = [
    "--dataset", "digits",
    "--population", "8",
    "--generations", "2",
    "--seed", "0",
    "--steps", "5",
    "--batch-size", "32",  # TrainConfig's defaults, not the search protocol's
    "--learning-rate", "0.001",
    "--validation", "0",
    "--final-seeds", "1",
    "--funnel", "2",
    "--no-progress",
]  # fmt: skip
