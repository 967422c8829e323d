"""Pallas kernels for hivejax's hot paths, each beside the plain-jnp reference it must match.

This folder installs as ``hivejax.kernels`` (``package-dir`` in ``pyproject.toml``).
Import a kernel module by name; importing this package loads no kernel:

- ``hivejax.kernels.interpreter``: the fused interpreter as one Pallas kernel over a
  population (``outputs``, ``run``); its reference is ``hivejax._src.interpret.reference``.
"""

__all__: list[str] = []
