"""What a validator interval costs with many miners (``hivejax bench interval``).

A subnet's cost grows with the distinct programs its validators train. This measurement
puts ``miners`` miners on an in-memory chain, each publishing (hash, then reveal) its own
program of the task: the builtins, then near-copies of them (``copier.near_copy``), which
are distinct programs a validator must train even where they share a fingerprint. One
validator then runs three intervals, each timed whole (wall seconds, compilation
included):

- **first**: every program is new: fingerprinted and trained on the seeds after its hash,
  then the top re-trained on the paid seeds;
- **repeat**: the next interval, nothing new: everything comes from the ledger;
- **new epoch**: an epoch later: the top alone is trained again, on the epoch's seeds.

The report counts the trainings of each interval (the ledger's rows), so the cost per
program is the figure to compare.
"""

import itertools
import pathlib
import tempfile
import time

from hivejax._src.evaluation.protocols import Protocol, get_protocol
from hivejax._src.program.canonical import canonical_hash
from hivejax._src.subnet.commitment import encode
from hivejax._src.subnet.copier import near_copy
from hivejax._src.subnet.memory_chain import MemoryChain
from hivejax._src.subnet.reveal import make_hash_commitment, make_reveal, new_salt
from hivejax._src.subnet.validator import Validator, ValidatorConfig
from hivejax._src.tasks.registry import builtin, builtin_names


def miner_programs(task: str, spec, count: int) -> list:
    """``count`` distinct programs of ``task``: its builtins, then near-copies of them."""
    originals = [builtin(n, spec) for n in builtin_names(task)]
    copies = (
        near_copy(spec, originals[i % len(originals)], 1e-3 * (1 + i))
        for i in range(len(originals), 4 * count)
    )
    programs = {}
    for p in itertools.chain(originals, copies):
        if p is not None:  # None: Adam uses every constant slot
            programs.setdefault(canonical_hash(spec, p), p)  # swish and silu are one program
        if len(programs) == count:
            return list(programs.values())
    raise ValueError(f"found only {len(programs)} distinct {task} programs")


def validator_interval(
    task: str = "optimizer", miners: int = 16, protocol: str | Protocol | None = None, data_dir=None
) -> dict:
    """The three intervals' seconds and trainings with ``miners`` miners (see the module);
    ``protocol`` is a shipped protocol's name or a ``Protocol`` (default ``local-<task>``)."""
    if not isinstance(protocol, Protocol):
        protocol = get_protocol(protocol or f"local-{task}")
    chain = MemoryChain()
    chain.register("owner")
    chain.register("validator", stake=1.0, validator=True)
    with tempfile.TemporaryDirectory() as directory:
        config = ValidatorConfig(protocol=protocol, data_dir=data_dir)
        validator = Validator(chain, "validator", pathlib.Path(directory), config)
        spec = config.spec
        for i, program in enumerate(miner_programs(protocol.task, spec, miners)):
            hotkey = f"miner-{i:02d}"
            chain.register(hotkey)
            payload, salt = encode(protocol.task, protocol.version, spec, program), new_salt()
            block = chain.commit(hotkey, make_hash_commitment(payload, salt, hotkey))
            chain.advance(1)
            chain.commit(hotkey, make_reveal(payload, salt, block))
        chain.advance(1)
        report = {"task": protocol.task, "protocol": protocol.name, "miners": miners}
        trained = 0
        for name, advance in (("first", 0), ("repeat", 1), ("new_epoch", config.epoch_blocks)):
            chain.advance(advance)
            t0 = time.perf_counter()
            step = validator.step()
            seconds = time.perf_counter() - t0
            total = validator.ledger.evaluation_count()
            report[name] = {"seconds": seconds, "trained": total - trained}
            trained = total
        report["ranking"] = list(step.scores.ranking)
        report["earning"] = sum(1 for w in step.scores.weights.values() if w > 0)
    return report
