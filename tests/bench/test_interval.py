"""``hivejax bench interval``: the three intervals of a validator with N miners, at toy size
(the smallest loss protocol). Their seconds are measurements (docs/subnet.md); what is
checked here is what each interval trains."""

from programs import TINY_LOSS

import hivejax.bench as hb
from hivejax._src.bench.interval import miner_programs
from hivejax._src.program.canonical import canonical_hash
from hivejax._src.tasks.registry import builtin_spec
from hivejax.cli.bench.interval import format_interval


def test_every_miner_holds_a_distinct_program():
    for task, name in (("loss", "mse"), ("activation", "relu"), ("optimizer", "adam")):
        spec = builtin_spec(name)
        programs = miner_programs(task, spec, 16)
        assert len({canonical_hash(spec, p) for p in programs}) == 16, task


def test_the_first_interval_trains_each_program_and_the_next_nothing():
    report = hb.validator_interval("loss", miners=3, protocol=TINY_LOSS)
    assert report["first"]["trained"] >= 3  # each on its own seeds, then the paid ones
    assert report["repeat"]["trained"] == 0
    assert report["new_epoch"]["trained"] == len(report["ranking"])  # the top, again
    assert all(report[k]["seconds"] > 0 for k in ("first", "repeat", "new_epoch"))
    text = format_interval(report)
    assert "3 miners, loss under tiny-loss" in text and "repeat" in text
