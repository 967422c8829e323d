"""Flags declared once: each config makes its flags, with its docstring's help, and reads
them back; a value the config refuses is a one-line usage error."""

import dataclasses

import pytest

import hivejax as hj
import hivejax.subnet as hs
from hivejax.cli import evolve, subnet
from hivejax.cli.config_flags import add_config_flags, attribute_docs
from hivejax.cli.flags import Parser, UsageError
from hivejax.cli.main import main

# Every flag `hivejax evolve` had before its flags were made from EvolveConfig.
EVOLVE_FLAGS_BEFORE = {
    "--task", "--problem", "--dataset", "--population", "--generations", "--seed",
    "--steps", "--batch-size", "--learning-rate", "--model", "--validation",
    "--no-derived-inputs", "--seed-programs", "--restart-every", "--no-cascade",
    "--survivors", "--hurdle-steps", "--promoted", "--cache", "--funnel", "--final-seeds",
    "--tune-constants", "--tune-generations", "--islands", "--migration-interval",
    "--migration-count", "--data-parallel", "--interpreter", "--chunk-size",
    "--checkpoint-every", "--keep-checkpoints",
}  # fmt: skip
# The fields that had no flag, and the positive spelling of each boolean.
EVOLVE_FLAGS_NEW = {
    "--hidden", "--depth", "--strategy", "--cache-max-hits", "--tune-elites", "--topology",
    "--derived-inputs", "--cascade", "--tries", "--initial-tries", "--confirm", "--conv",
}  # fmt: skip


def _leaf_fields(config) -> list[str]:
    """The names of every field of ``config`` and of its parts, parts excluded."""
    names = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        names += _leaf_fields(value) if dataclasses.is_dataclass(value) else [field.name]
    return names


def _subcommand(add, *argv):
    """The flags a command module's ``add`` made, and ``argv`` parsed by its parser."""
    parser = Parser(prog="hivejax")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    flags = add(sub)
    return flags, parser.parse_args(list(argv))


def test_field_names_are_unique_across_the_parts_of_a_run():
    names = _leaf_fields(hj.EvolveConfig())
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_evolve_flags_are_todays_names_one_per_field():
    flags, args = _subcommand(evolve.add, "evolve")
    options = {f.option for f in flags.flags}
    assert len(flags.flags) == len(_leaf_fields(hj.EvolveConfig()))
    assert {f.dest for f in flags.flags} == set(_leaf_fields(hj.EvolveConfig()))
    booleans = {"--derived-inputs", "--cascade"}
    spelled = options | {"--no-" + o[2:] for o in booleans}
    assert spelled == EVOLVE_FLAGS_BEFORE | EVOLVE_FLAGS_NEW
    # Each is read back from its own flag into its own part.
    by_option = {f.option: f.path for f in flags.flags}
    assert by_option["--steps"] == ("train", "steps")
    assert by_option["--migration-interval"] == ("scale", "migration", "interval")


def test_help_comes_from_the_docstrings():
    docs = attribute_docs(hj.ScreeningConfig)
    assert docs["survivors"].startswith("train at most this many programs per generation")
    # An entry that documents two fields documents both.
    assert attribute_docs(hs.LocalSubnetConfig)["validators"] == "how many of each."
    parser = Parser(prog="hivejax")
    flags = add_config_flags(parser, hj.EvolveConfig(), names=evolve.NAMES)
    helps = {a.dest: a.help for a in parser._actions}
    for flag in flags.flags:  # every field is documented
        assert helps[flag.dest], flag.option
    assert "``" not in helps["survivors"] and helps["survivors"].endswith("(default: %(default)s)")


@pytest.mark.parametrize(
    "default, skip",
    [
        (hj.EvolveConfig(), ()),
        (hj.TrainConfig(), ()),
        (hs.MinerConfig(), ("protocol",)),
        (hs.ValidatorConfig(), ("protocol",)),
        (hs.LocalSubnetConfig(), ()),
    ],
)
def test_default_flags_read_back_the_default_config(default, skip):
    parser = Parser(prog="hivejax")
    flags = add_config_flags(parser, default, names=evolve.NAMES, skip=skip)
    args = parser.parse_args([])
    given = {name: getattr(default, name) for name in skip}
    assert flags.read(args, **given) == default
    assert flags.given(args) == []


def test_commands_read_their_configs_from_their_flags():
    flags, args = _subcommand(
        evolve.add, "evolve", "--steps", "7", "--no-cascade", "--islands", "2"
    )
    config = evolve.config(args, flags)
    assert config.train == dataclasses.replace(hj.EvolveConfig().train, steps=7)
    assert not config.screening.cascade and config.scale.migration.islands == 2
    argv = ["evolve", "--seed-programs", "a.json", "--seed-builtins", "--chunk-size", "16"]
    config = evolve.config(_subcommand(evolve.add, *argv)[1], flags)
    names = [f"builtin:{n}" for n in hj.builtin_names("loss")]
    assert config.search.seed_programs == ("a.json", *names)
    assert config.scale.chunk_size == 16  # an int | str field takes a number or a word
    _, args = _subcommand(subnet.add, "subnet", "local", "--miner-programs", "a", "b")
    assert args.miner_programs == ["a", "b"]


def test_a_value_the_config_refuses_is_a_usage_error():
    flags, args = _subcommand(evolve.add, "evolve", "--validation", "1.5")
    with pytest.raises(UsageError, match=r"validation must be in \[0, 1\)"):
        evolve.config(args, flags)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evolve", "--validation", "1.5", "--out", "x"], "validation must be in [0, 1)"),
        (["evolve", "--chunk-size", "0", "--out", "x"], "chunk_size must be 'auto' or at least 1"),
        (["evolve", "--chunk-size", "all", "--out", "x"], "expected an integer or 'auto'"),
        (["evolve", "--islands", "0", "--out", "x"], "migration islands must be a positive"),
        (["evaluate", "builtin:mse", "--learning-rate", "0"], "learning_rate must be > 0"),
        (["subnet", "local", "--minutes", "-1"], "minutes must be a positive number"),
        (["subnet", "local", "--blocks-per-second", "0"], "blocks_per_second must be a positive"),
        (["subnet", "validator", "--out", "v", "--top", "0"], "top must be an integer >= 1"),
    ],
)
def test_config_errors_are_one_line_and_status_2(capsys, argv, message):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and out == "", err
    assert err.startswith("hivejax: error:") and err.count("\n") == 1 and message in err


@pytest.mark.parametrize(
    "flag", [["--hidden", "64"], ["--no-cascade"], ["--cache", "0"], ["--seed-builtins"]]
)
def test_a_formula_search_refuses_the_training_and_screening_flags(capsys, flag):
    argv = ["evolve", "--task", "regression", "--problem", "nguyen-1", "--out", "x", *flag]
    code = main(argv)
    err = capsys.readouterr().err
    assert (
        code == 2 and err.count("\n") == 1 and f"{flag[0]}: not flags of --task regression" in err
    )


def test_a_protocol_refuses_every_training_flag(capsys):
    code = main(
        ["evaluate", "builtin:mse", "--protocol", "miner-loss", "--depth", "2", "--seeds", "4"]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--seeds, --depth cannot be combined with --protocol" in err
