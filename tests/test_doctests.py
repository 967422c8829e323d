"""Examples are tests: every ``>>>`` line in the package runs here.

One test per module, through the standard library's ``doctest``, under this suite's
configuration (simulated CPU devices, strict rank promotion). Each example's output is
compared exactly, so an example that goes stale fails.
"""

import doctest
import importlib
import importlib.util
import pkgutil

import pytest

import hivejax

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(hivejax.__path__, prefix="hivejax.") if not m.ispkg
) + ["hivejax"]
# Modules of an optional extra, by the package they need: skipped where it is missing.
EXTRAS = {"hivejax._src.subnet.bittensor_chain": "bittensor"}


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    if name in EXTRAS:
        pytest.importorskip(EXTRAS[name])
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(module, name, globs=vars(module).copy()):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_package_has_examples():
    finder = doctest.DocTestFinder(exclude_empty=True)
    examples = sum(
        len(t.examples)
        for name in MODULES
        if name not in EXTRAS or importlib.util.find_spec(EXTRAS[name]) is not None
        for t in finder.find(importlib.import_module(name), name)
    )
    assert examples >= 30, examples
