"""Known programs as instruction lists, for tests that disguise or edit them."""

from hivejax._src.formats import to_json
from hivejax._src.tasks.registry import builtin, builtin_spec


def instructions(name: str) -> tuple[list[tuple[str, str, str, str]], list[float]]:
    """Builtin ``name``'s instructions and constants, as ``make_program`` takes them."""
    doc = to_json(builtin_spec(name), builtin(name))
    return [tuple(i) for i in doc["instructions"]], [float(c) for c in doc["consts"]]


CE, _ = instructions("cross_entropy")
"""Cross-entropy: ``r1 = lse_c(x); r1 = x - r1; r1 = y * r1; r1 = sum_c(r1); r0 = -r1``."""
