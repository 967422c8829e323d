"""The functional-equivalence cache: programs that train alike are trained once."""

import dataclasses
import json
import math

import numpy as np
import pytest
from programs import CE, loss_variants
from toy import TOY

import hivejax as hj
from hivejax._src.evaluation.equivalence_cache import EquivalenceCache
from hivejax._src.io.program_io import save_program
from hivejax._src.program.program import make_program
from hivejax._src.search.generation import _plan
from hivejax._src.tasks.registry import builtin_spec


def test_a_planted_population_of_cross_entropy_variants_trains_once(tmp_path):
    spec = builtin_spec("cross_entropy")
    variants = dict(loss_variants())
    variants["scaled_and_shifted"] = make_program(
        spec,
        [("r0", "lse_c", "x", "x"), ("r0", "sub", "x", "r0"), ("r0", "mul", "y", "r0")]
        + [("r0", "sum_c", "r0", "r0"), ("r0", "mul", "r0", "c0"), ("r0", "sub", "c1", "r0")],
        consts=[0.5, 2.0],
    )
    renamed = [tuple(field.replace("r1", "r3") for field in i) for i in CE]
    variants["renamed_dead_code"] = make_program(spec, [("r7", "cos", "x", "x"), *renamed])
    assert len(variants) == 8
    paths = []
    for name, program in variants.items():
        paths.append(str(tmp_path / f"{name}.json"))
        save_program(paths[-1], spec, program)
    # The toy run's shapes, so its compiled steps are reused; only the seed programs differ.
    config = dataclasses.replace(
        TOY, generations=1, search=hj.SearchConfig(seed_programs=tuple(paths))
    )
    hj.evolve(config, tmp_path / "run")
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    first = lines[0]
    assert first["rejected"] == 0
    assert (first["trained"], first["cache_hits"], first["untrained"]) == (1, 7, 0)
    # Every copy took the one result: the generation's best and mean accuracy agree.
    assert first["best_accuracy"] == pytest.approx(first["mean_accuracy"])


def test_plan_trains_each_fingerprint_once_and_reuses_the_cache():
    cache = EquivalenceCache(capacity=8, max_hits=10)
    cache.put("known", -0.4)
    codes = np.array([0, 0, 3, 0, 0, 0, 0, 0])
    hashes = ["a", "a", "a", "known", None, "b", "c", "b"]
    (places, real, slot_of, cached), slot_hashes, counts = _plan(codes, hashes, cache, trained=3)
    # 0 trains, 1 copies it, 2 is rejected, 3 hits the cache, 4 (no fingerprint) and 5
    # train, 6 finds no place, 7 copies 5.
    assert counts == {"trained": 3, "cache_hits": 3, "untrained": 1}
    assert places.tolist() == [0, 4, 5] and real.tolist() == [True] * 3
    assert slot_of.tolist() == [0, 0, -1, -1, 1, 2, -1, 2]
    assert cached[3] == pytest.approx(-0.4)
    assert math.isinf(cached[2]) and math.isinf(cached[6])
    assert slot_hashes == ["a", None, "b"]


def test_cache_is_bounded_least_recently_used_and_forces_retraining():
    cache = EquivalenceCache(capacity=2, max_hits=2)
    cache.put("a", -0.1)
    cache.put("b", -0.2)
    assert cache.get("a") == -0.1  # "a" is now the most recent
    cache.put("c", -0.3)  # evicts "b"
    assert cache.get("b") is None and len(cache) == 2
    assert cache.get("a") == -0.1  # second hit: at the limit
    assert cache.get("a") is None and "a" not in dict((k, v) for k, v, _ in cache.state())
    cache.put("d", math.inf)
    again = EquivalenceCache.from_state(2, 2, json.loads(json.dumps(cache.state())))
    assert again.state() == cache.state() and again.get("d") == math.inf
    with pytest.raises(ValueError, match="capacity"):
        EquivalenceCache(0, 1)
