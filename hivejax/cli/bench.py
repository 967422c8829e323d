"""The throughput benchmark of ``shared/bench/PROTOCOL.md``, as a command that prints figures.

One fitness evaluation trains a fresh MLP for the protocol's steps with a program as its
loss and measures test accuracy. In one process it times:

- each interpreter asked for (``interpreters.CHOICES``; ``all`` for every one) on a
  population of random programs (the engine's initialiser); ``reference`` (plain jnp
  autodiff through every op) is the naive design the others replace;
- the ceiling: the same engine with the loss hard-coded as optax softmax cross-entropy;
- optionally the sequential DEAP + PyTorch baseline script, run as a subprocess.

Throughput is steady state: compilation is timed separately (ahead-of-time) and each
figure is the median of ``repeats`` runs under fresh keys. Ratios are what to compare:
this machine is shared and noisy.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import time

import jax

import hivejax as hj
from hivejax._src.evaluation.mesh import check_population
from hivejax._src.search.generation import Generation


def machine() -> dict:
    """What a figure was measured on: platform, CPU, devices and JAX version."""
    return {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count(),
        "devices": [str(d) for d in jax.devices()],
        "jax": jax.__version__,
    }


def _throughput(fn, args, population: int, repeats: int, key) -> dict:
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args, key).compile()
    compile_seconds = time.perf_counter() - t0
    times = []
    for k in jax.random.split(key, repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args, k))
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    return {
        "evals_per_second": population / seconds,
        "seconds_per_population": seconds,
        "compile_seconds": compile_seconds,
    }


def sharded(
    population: int,
    dataset: str,
    repeats: int,
    devices=None,
    seed: int = 0,
    steps: int | None = None,
    data_dir=None,
) -> dict:
    """Evaluations per second of the population sharded over ``devices`` (default: all),
    in total and per device, and the time of one whole sharded engine generation.

    ``steps`` (default: the protocol's) shortens training, for quick checks only.
    The total rate is measured; the per-device rate is the total over the number of
    devices, so ``evals_per_second == evals_per_second_per_device * devices``.
    """
    mesh = hj.make_mesh(devices)
    check_population(population, mesh)
    n = mesh.devices.size
    data = hj.load_dataset(dataset, data_dir)
    train = hj.TrainConfig() if steps is None else hj.TrainConfig(steps=steps)
    task = hj.LossTask(train=train)
    k_pop, k_eval, k_gen = jax.random.split(jax.random.key(seed), 3)
    programs = hj.random_population(k_pop, task.spec, population)
    evaluate = hj.sharded_accuracy(task, mesh)
    result = _throughput(evaluate, (programs, data), population, repeats, k_eval)
    strategy = hj.RegularizedEvolution(task.spec, population_size=population)
    params = strategy.default_params
    states = jax.vmap(strategy.init, in_axes=(0, None))(k_gen[None], params)
    step = Generation(strategy, params, task, data, mesh, hj.Migration(), k_eval)
    step.compile(states, k_gen)
    times = []
    for g, k in enumerate(jax.random.split(k_gen, repeats)):
        t0 = time.perf_counter()
        states, _ = jax.block_until_ready(step(states, k, g))
        times.append(time.perf_counter() - t0)
    return {
        "devices": n,
        "population": population,
        "steps": train.steps,
        "seconds_per_population": result["seconds_per_population"],
        "evals_per_second": result["evals_per_second"],
        "evals_per_second_per_device": result["evals_per_second"] / n,
        "compile_seconds": result["compile_seconds"],
        "generation_seconds": statistics.median(times),
    }


def run_baseline_script(path: str, genomes: int, dataset: str) -> dict:
    """Run the DEAP + PyTorch baseline script and return its JSON report."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"baseline script not found: {path}")
    cmd = [sys.executable, path, "--json", "--genomes", str(genomes), "--dataset", dataset]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"baseline script failed: {tail[0]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench(
    population: int = 256,
    dataset: str = "mnist1d",
    repeats: int = 3,
    interpreters: tuple[str, ...] = ("auto",),
    baseline_script: str | None = None,
    baseline_genomes: int = 48,
    seed: int = 0,
    data_dir=None,
    steps: int | None = None,
) -> dict:
    """Measure evaluations per second; see the module docstring.

    ``steps`` (default: the protocol's) shortens training, for quick checks only.

    The report has one entry per interpreter (``auto`` resolved to its name, under
    ``auto``) and ``<name>_over_ceiling`` for each, ``<name>_over_deap_torch`` with the
    baseline script.
    """
    if population < 1 or repeats < 1:
        raise ValueError("population and repeats must be positive")
    names = dict.fromkeys(hj.resolve_interpreter(name) for name in interpreters)
    data = hj.load_dataset(dataset, data_dir)
    train = hj.TrainConfig() if steps is None else hj.TrainConfig(steps=steps)
    key = jax.random.key(seed)
    k_pop, k_eval = jax.random.split(key)
    spec = hj.LossTask().spec
    programs = hj.random_population(k_pop, spec, population)
    report = {
        "protocol": {"dataset": dataset, "population": population, **train.__dict__},
        "machine": machine(),
    }
    if "auto" in interpreters:
        report["auto"] = hj.resolve_interpreter("auto")
    for name in names:
        task = hj.LossTask(train=train, interpreter=name)
        report[name] = _throughput(task.accuracy, (programs, data), population, repeats, k_eval)
    ceiling = lambda d, k: hj.LossTask(train=train).baseline_accuracy(d, k, population)
    report["ceiling"] = _throughput(ceiling, (data,), population, repeats, k_eval)
    base = None
    if baseline_script:
        base = run_baseline_script(baseline_script, baseline_genomes, dataset)
        report["deap_torch"] = base
    for name in names:
        rate = report[name]["evals_per_second"]
        report[f"{name}_over_ceiling"] = rate / report["ceiling"]["evals_per_second"]
        if base:
            report[f"{name}_over_deap_torch"] = rate / base["evals_per_s"]
    return report


def format_report(report: dict) -> str:
    """The lines ``hivejax bench`` prints for a ``bench`` report."""
    lines = []
    for name in (*hj.INTERPRETERS, "ceiling"):
        if name in report:
            r = report[name]
            lines.append(
                f"{name:>10}: {r['evals_per_second']:8.1f} evals/s "
                f"(compile {r['compile_seconds']:.1f} s)"
            )
    if "deap_torch" in report:
        lines.append(f"{'deap+torch':>10}: {report['deap_torch']['evals_per_s']:8.1f} evals/s")
    lines += [f"{key}: {value:.2f}" for key, value in report.items() if "_over_" in key]
    return "\n".join(lines)


def format_sharded(report: dict) -> str:
    """The line ``hivejax bench --devices all`` prints for a ``sharded`` report."""
    return (
        f"{report['devices']} devices: {report['evals_per_second']:.1f} evals/s "
        f"({report['evals_per_second_per_device']:.1f} per device), one generation "
        f"{report['generation_seconds']:.2f} s"
    )
