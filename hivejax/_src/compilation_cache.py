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
"""

import os
import pathlib

import jax

from hivejax._src.data import cache_dir

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
