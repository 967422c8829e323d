"""Known programs as instruction lists, for tests that disguise or edit them."""

import dataclasses

from hivejax._src.evaluation.protocols import get_protocol
from hivejax._src.program.formats import to_json
from hivejax._src.program.program import make_program
from hivejax._src.tasks.registry import builtin, builtin_spec


def instructions(name: str) -> tuple[list[tuple[str, str, str, str]], list[float]]:
    """Builtin ``name``'s instructions and constants, as ``make_program`` takes them."""
    doc = to_json(builtin_spec(name), builtin(name))
    return [tuple(i) for i in doc["instructions"]], [float(c) for c in doc["consts"]]


CE, _ = instructions("cross_entropy")
_LOSS = builtin_spec("cross_entropy")
"""Cross-entropy: ``r1 = lse_c(x); r1 = x - r1; r1 = y * r1; r1 = sum_c(r1); r0 = -r1``."""


def loss_variants():
    """Cross-entropy as a copier would disguise it, each edit training-neutral."""
    renamed = [("r6", "lse_c", "x", "x"), ("r6", "sub", "x", "r6"), ("r3", "mul", "r6", "y")]
    renamed += [("r3", "sum_c", "r3", "r3"), ("r0", "neg", "r3", "r3")]
    return {
        "builtin": builtin("cross_entropy"),
        "renamed": make_program(_LOSS, renamed),
        "dead_code": make_program(
            _LOSS, [("r2", "exp", "x", "y"), *CE, ("r4", "sin", "r0", "x")], consts=[0.3]
        ),
        "plus_constant": make_program(_LOSS, [*CE, ("r0", "add", "r0", "c0")], consts=[3.7]),
        "scaled": make_program(_LOSS, [*CE, ("r0", "mul", "r0", "c0")], consts=[2.5]),
        "all_at_once": make_program(
            _LOSS,
            [
                ("r5", "cos", "y", "y"),
                *renamed,
                ("r0", "mul", "c1", "r0"),
                ("r0", "add", "r0", "pi"),
            ],
            consts=[9.0, 0.07],
        ),
    }


_LOCAL_LOSS = get_protocol("local-loss")
TINY_LOSS = dataclasses.replace(
    _LOCAL_LOSS,
    name="tiny-loss",
    cells=(("mnist1d", "linear"),),
    seeds=2,
    train=dataclasses.replace(_LOCAL_LOSS.train, steps=10, batch_size=8),
)
"""The smallest loss protocol: for tests of what a validator does whatever it trains, whose
compilations every module that trains under it shares through the persistent cache."""
