"""The baselines hivejax's benchmarks compare with, installed as ``hivejax.baselines``.

Scripts, not modules: ``deap_torch.py`` (the throughput protocol, ``PROTOCOL.md``, with DEAP
trees and PyTorch) and ``deap_numpy.py`` (symbolic regression with DEAP trees and numpy) are
what a user would write without hivejax. ``hivejax bench`` finds them with
``importlib.resources`` and runs each as a subprocess; hivejax never imports them, and their
dependencies (the ``[bench]`` extra) are never hivejax's. ``device.sh`` is the one-call
check of a GPU or TPU host.
"""
