"""``hivejax subnet miner|validator|local``: the neurons, and a whole subnet on one machine.

``neurons/miner.py`` and ``neurons/validator.py`` are these commands under the Bittensor
convention's names, with the same flags (``--netuid``, ``--subtensor.network``,
``--wallet.name``, ``--wallet.hotkey``, ...; those, like the run's ``--interval`` and
``--steps``, are the commands' own). Every other flag is a field of ``hs.MinerConfig``,
``hs.ValidatorConfig`` or ``hs.LocalSubnetConfig``, made by ``config_flags``; a neuron's
``protocol`` field is set from ``--task`` and ``--protocol NAME``.
"""

import functools
import logging
import pathlib
import signal
import sys

from rich.live import Live
from rich.table import Table

import hivejax as hj
import hivejax.subnet as hs
from hivejax.cli.config_flags import ConfigFlags, add_config_flags
from hivejax.cli.flags import METAVARS, UsageError, non_negative, positive, positive_float, usage

DEFAULT_INTERVAL = 120.0
"""Seconds between a validator's intervals on a network (ten blocks)."""
DEFAULT_POLL = 6.0
"""Seconds between a validator's reads of the commitments (half a block)."""
_TASK = {"task": hj.TASKS}
_TASK_DEFAULT = hs.LocalSubnetConfig().task


def add(sub) -> None:
    """Add ``subnet`` and its roles to the subcommands ``sub``."""
    p = sub.add_parser("subnet", help="run a miner, a validator, or a whole local subnet")
    roles = p.add_subparsers(dest="role", required=True, parser_class=type(p))
    miner = roles.add_parser("miner", help="evolve programs and publish the best on chain")
    _add_neuron_flags(miner)
    flags = add_config_flags(miner, hs.MinerConfig(), metavars=METAVARS, skip=("protocol",))
    miner.set_defaults(run=functools.partial(_role, _miner, flags))
    validator = roles.add_parser("validator", help="score the miners' programs, set weights")
    _add_neuron_flags(validator)
    validator.add_argument(
        "--interval", type=positive_float, default=DEFAULT_INTERVAL, help="seconds per interval"
    )
    validator.add_argument(
        "--poll", type=positive_float, default=DEFAULT_POLL, help="seconds between reads"
    )
    flags = add_config_flags(validator, hs.ValidatorConfig(), metavars=METAVARS, skip=("protocol",))
    validator.set_defaults(run=functools.partial(_role, _validator, flags))
    local = roles.add_parser("local", help="a whole subnet on this machine, on one SQLite chain")
    local.add_argument("--dir", type=pathlib.Path, default=pathlib.Path("hivejax-subnet"))
    flags = add_config_flags(local, hs.LocalSubnetConfig(), choices=_TASK, metavars=METAVARS)
    local.add_argument("--no-progress", action="store_true", help="print no live leaderboard")
    local.set_defaults(run=functools.partial(_role, _local, flags))


def _add_neuron_flags(p) -> None:
    p.add_argument("--netuid", type=non_negative, default=49, help="the subnet (49: Hivetrain)")
    p.add_argument(
        "--subtensor.network",
        dest="network",
        default="local",
        help="local (a SQLite chain file), test, finney, or a ws:// endpoint",
    )
    p.add_argument("--chain.path", dest="chain_path", metavar="FILE", help="local chain file")
    p.add_argument(
        "--chain.blocks-per-second",
        dest="blocks_per_second",
        type=float,
        help="clock of a new local chain file (default one block per 12 s)",
    )
    p.add_argument("--wallet.name", dest="wallet_name", default="default")
    p.add_argument("--wallet.hotkey", dest="wallet_hotkey", default="default")
    p.add_argument("--wallet.path", dest="wallet_path", metavar="DIR", help="bittensor wallets")
    p.add_argument("--task", default=_TASK_DEFAULT, choices=hj.TASKS, help="what programs define")
    p.add_argument(
        "--protocol",
        metavar="NAME",
        help="the shipped protocol programs are scored under (see `hivejax protocols`)",
    )
    p.add_argument("--out", type=pathlib.Path, required=True, help="the neuron's directory")
    p.add_argument("--steps", type=positive, help="stop after this many rounds or intervals")
    p.add_argument(
        "--logging.level",
        dest="log_level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
    )


def _protocol(args) -> hj.Protocol:
    with usage():
        protocol = hj.get_protocol(args.protocol or f"validator-{args.task}")
    if protocol.task != args.task:
        raise UsageError(
            f"protocol {protocol.name} scores {protocol.task} programs, not {args.task}"
        )
    return protocol


def _neuron(args, validator: bool):
    """The chain and this neuron's hotkey (registered on a local chain), then logging."""
    if args.network == "local" and args.chain_path is None:
        raise UsageError("a local network needs the chain file (--chain.path FILE)")
    chain, hotkey = hs.open_chain(
        args.network,
        netuid=args.netuid,
        wallet_name=args.wallet_name,
        wallet_hotkey=args.wallet_hotkey,
        wallet_path=args.wallet_path,
        chain_path=args.chain_path,
        blocks_per_second=args.blocks_per_second,
    )
    try:
        uid = hs.join(chain, hotkey, validator)
    except hs.ChainError as e:
        raise RuntimeError(f"{e.code.value}: {e}") from None
    # Configured only once the neuron is sure to run, so a refused command line leaves the
    # caller's logging as it was.
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
        force=True,  # jax or absl may have configured the root logger on import
    )
    for noisy in ("absl", "jax", "orbax"):  # checkpoint and compile chatter at INFO
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    role = "validator" if validator else "miner"
    logging.getLogger("hivejax").info("%s %s is uid %d on %r", role, hotkey, uid, chain)
    return chain, hotkey


def _miner(args, flags: ConfigFlags) -> None:
    config = flags.read(args, protocol=_protocol(args))
    chain, hotkey = _neuron(args, validator=False)
    hs.Miner(chain, hotkey, args.out, config).run(steps=args.steps)


def _validator(args, flags: ConfigFlags) -> None:
    config = flags.read(args, protocol=_protocol(args))
    chain, hotkey = _neuron(args, validator=True)
    hs.Validator(chain, hotkey, args.out, config).run(args.interval, args.poll, args.steps)


def _local(args, flags: ConfigFlags) -> None:
    config = flags.read(args)
    print(
        f"local subnet in {args.dir}: {config.miners} miner(s), {config.validators} "
        f"validator(s), {config.protocol_of().name}, {config.minutes:g} minute(s); logs in "
        f"{args.dir / 'logs'}",
        flush=True,
    )
    with _board(enabled=not args.no_progress) as display:
        try:
            result = hs.run_local_subnet(args.dir, config, display)
        except KeyboardInterrupt:
            raise KeyboardInterrupt(
                f"every neuron stopped; run the same command again to resume from {args.dir}"
            ) from None
    _print_result(result)


class _board:
    """The live leaderboard: redrawn in place on a terminal, else printed when it changes."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.live = None
        self.last = None

    def __enter__(self):
        if self.enabled and sys.stdout.isatty():
            self.live = Live(refresh_per_second=1)
            self.live.__enter__()
        return self.show if self.enabled else None

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)

    def show(self, board: dict) -> None:
        if self.live is not None:
            self.live.update(_table(board))
            return
        rows = _plain(board["rows"])
        if rows != self.last:  # a new line only when a row changes, not every block
            print(f"block {board['block']} tempo {board['tempo']}\n{rows}", flush=True)
            self.last = rows


def _score_cells(row: dict) -> tuple[str, str, str]:
    mean = "" if row["mean"] is None else f"{row['mean']:+.4f}"
    bound = "" if row["lower_bound"] is None else f"{row['lower_bound']:+.4f}"
    rank = str(row["rank"]) if row["rank"] else (row["reason"] or "")
    return mean, bound, rank


def _table(board: dict):
    table = Table(title=f"block {board['block']}, tempo {board['tempo']}")
    for column in (
        "uid",
        "miner",
        "commitment",
        "mean",
        "lower bound",
        "rank",
        "emission",
        "program",
    ):
        table.add_column(column)
    for r in board["rows"]:
        mean, bound, rank = _score_cells(r)
        table.add_row(
            str(r["uid"]),
            r["hotkey"],
            r["commitment"],
            mean,
            bound,
            rank,
            f"{r['emission']:.3f}",
            r["formula"][:60],
        )
    return table


def _plain(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        mean, bound, rank = _score_cells(r)
        lines.append(
            f"  {r['hotkey']:<22} {r['commitment']:<10} mean {mean or '-':>8} "
            f"lb {bound or '-':>8} rank {rank or '-':<10} emission {r['emission']:.3f}"
        )
    return "\n".join(lines)


def _print_result(result: dict) -> None:
    print(f"final: block {result['block']}, tempo {result['tempo']}")
    for validator, row in result["weights"].items():
        text = ", ".join(f"{m} {w:.3f}" for m, w in row.items()) or "none"
        print(f"  weights of {validator}: {text}")
    if not result["weights"]:
        print("  no validator has set weights (nobody beat the baseline yet)")
    print("  emissions: " + ", ".join(f"{h} {s:.3f}" for h, s in result["emissions"].items()))


def _role(command, flags: ConfigFlags, args) -> None:
    """Run one role's ``command``: Ctrl-C stops it, and a chain's refusal is one line."""
    # A process started in the background by a shell without job control inherits SIGINT
    # ignored, and Python then leaves it ignored: restore Ctrl-C, which the local subnet
    # also sends its neurons to stop them.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        command(args, flags)
    except hs.ChainError as e:
        raise RuntimeError(f"the chain refused: {e}") from None
