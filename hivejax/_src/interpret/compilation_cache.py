"""JAX's persistent compilation cache, on by default for the ``hivejax`` command.

A run compiles its generation step, its evaluators and its final scoring: seconds to
minutes before the first generation. JAX can keep compiled executables on disk, keyed on
the computation, the backend, the devices and the compile options, so a second run of the
same shapes (a resumed run, the next seed, a neuron restarted) loads them instead.

Where: ``$HIVEJAX_COMPILATION_CACHE`` if set (``off`` turns it off), else ``compilation``
under the data cache directory (``$HIVEJAX_CACHE``, default ``~/.cache/hivejax``). The
``hivejax`` command and the neurons turn it on when they start; a library user or a
notebook calls ``enable()``, since a library should not change JAX's global configuration
on import. Only compilations of a second or more are stored (JAX's default threshold), so
the cache holds the expensive few, not every small helper.

The executables in memory are another matter: ``release_executables`` frees them, which a
process that runs search after search must do.
"""

import gc
import os
import pathlib

import jax

from hivejax._src.program.files import cache_dir

OFF = "off"


def location() -> pathlib.Path | None:
    """The cache directory ``enable`` uses, or None when the user turned it off."""
    setting = os.environ.get("HIVEJAX_COMPILATION_CACHE")
    if setting == OFF:
        return None
    return pathlib.Path(setting).expanduser() if setting else cache_dir() / "compilation"


def enable() -> pathlib.Path | None:
    """Point JAX's persistent compilation cache at ``location()``; return it (None: off)."""
    path = location()
    if path is not None:
        jax.config.update("jax_compilation_cache_dir", str(path))
    return path


def release_executables() -> None:
    """Free the compiled executables JAX keeps in memory, and the memory maps they hold.

    JAX's caches keep every executable, and XLA's CPU backend maps a few memory regions
    for each. A run of ``evolve`` compiles its own (its task, data and keys are baked into
    them), so a process that runs one after another grows by hundreds of maps a run (700
    for a small regression search), until Linux's ``vm.max_map_count`` (65530 by default)
    stops the compiler: "LLVM compilation error: Cannot allocate memory", then a crash.
    The miner calls this after each round, the benchmarks between their runs and the test
    suite after each module; a script that loops over ``evolve`` should too. The price is
    compiling again, which the persistent cache turns into a load for the slow compiles.
    """
    jax.clear_caches()
    gc.collect()
