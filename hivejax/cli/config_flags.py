"""Flags declared once: a config dataclass makes its own flags and reads them back.

``add_config_flags(parser, default)`` adds one flag per field of the config instance
``default``: ``--batch-size`` for ``batch_size``, its help the field's entry in the class
docstring's ``Attributes:`` section, its default the field's value in ``default``. A field
whose value is itself a config (``EvolveConfig.train``, ``ScaleConfig.migration``) adds
its fields the same way, in a group of its own, and the flags stay flat: field names are
unique across the parts, so ``--steps`` needs no ``--train.`` prefix (a flag may still be
renamed: ``Migration.interval`` is ``--migration-interval``). The flag's type follows the
field's annotation: ``bool`` is ``--x/--no-x``, ``tuple[T, ...]`` takes one or more
values, ``T | None`` takes a ``T``, and ``int | str`` a number or its default's word
(``--chunk-size auto``).
Checking values is the config's job: ``ConfigFlags.read`` builds the config, and the
``ValueError`` its ``__post_init__`` raises becomes a usage error.

Why these few lines rather than tyro, which does the same from the same dataclasses: the
command line keeps its contract that every error is one line (``hivejax: error: ...``),
found before anything runs, with argparse's subparsers for the commands and the bench
workloads; and it keeps the flat flag names that users' scripts and the README already
spell (``--population``, ``--no-cascade``), where tyro would write nested fields as
``--train.steps``.
"""

import argparse
import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Iterable, Mapping

from hivejax.cli.flags import usage

_ENTRY = re.compile(r"^(\w+(?:\s*,\s*\w+)*):\s*(.*)$")


def attribute_docs(cls: type) -> dict[str, str]:
    """The ``Attributes:`` section of ``cls``'s docstring (Google style) as ``{field: text}``;
    an entry ``a, b: text`` documents both fields.

    Example:
      >>> class Budget:
      ...     '''A budget.
      ...
      ...     Attributes:
      ...       population, generations: the size of the search, in programs
      ...         and in generations.
      ...     '''
      >>> attribute_docs(Budget)["generations"]
      'the size of the search, in programs and in generations.'
    """
    lines = inspect.cleandoc(cls.__doc__ or "").splitlines()
    if "Attributes:" not in lines:
        return {}
    entries: list[tuple[list[str], list[str]]] = []
    indent = None
    for line in lines[lines.index("Attributes:") + 1 :]:
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        if depth == 0:  # the section ended
            break
        indent = depth if indent is None else indent
        entry = _ENTRY.match(line.strip()) if depth == indent else None
        if entry:
            entries.append(([n.strip() for n in entry[1].split(",")], [entry[2]]))
        elif entries:
            entries[-1][1].append(line.strip())
    return {name: " ".join(text).strip() for names, text in entries for name in names}


@dataclasses.dataclass(frozen=True)
class Flag:
    """One config field's flag: where the field sits in the config, and its flag."""

    path: tuple[str, ...]  # field names from the config down to the field
    option: str  # ``--batch-size``
    default: object
    several: bool  # a tuple field: argparse parses a list

    @property
    def dest(self) -> str:
        """The field name, which is also the flag's argparse destination."""
        return self.path[-1]

    def value(self, args: argparse.Namespace):
        """The field's value as parsed."""
        value = getattr(args, self.dest)
        return tuple(value) if self.several else value

    def given(self, args: argparse.Namespace) -> bool:
        """Whether the parsed value differs from the default."""
        return self.value(args) != self.default

    def spelled(self, args: argparse.Namespace) -> str:
        """The option as given: ``--no-x`` for a boolean turned off."""
        return "--no-" + self.option[2:] if self.value(args) is False else self.option


class ConfigFlags:
    """The flags ``add_config_flags`` added for one config, to read the config back."""

    def __init__(self, default, flags: tuple[Flag, ...]):
        self.default = default
        self.flags = flags

    def within(self, *names: str) -> tuple[Flag, ...]:
        """The flags of the fields ``names`` and of every field under the parts ``names``."""
        return tuple(f for f in self.flags if set(f.path) & set(names))

    def given(self, args: argparse.Namespace, *names: str) -> list[str]:
        """The options among ``within(*names)`` (all without ``names``) whose values differ
        from the defaults."""
        flags = self.within(*names) if names else self.flags
        return [f.spelled(args) for f in flags if f.given(args)]

    def read(self, args: argparse.Namespace, **fields):
        """The config the flags in ``args`` describe; ``fields`` (by field name, at any
        depth: a whole part, or one field of a part) override them. A ``ValueError`` of a
        config is a ``UsageError``."""
        values = {f.dest: f.value(args) for f in self.flags} | fields
        with usage():
            return _rebuild(self.default, values)


def _rebuild(default, values: Mapping):
    """``default`` with each field found in ``values`` replaced, parts rebuilt inside out,
    so every ``__post_init__`` checks what it receives."""
    kwargs = {}
    for field in dataclasses.fields(default):
        if not field.init:
            continue
        value = getattr(default, field.name)
        if field.name in values:
            kwargs[field.name] = values[field.name]
        elif dataclasses.is_dataclass(value):
            kwargs[field.name] = _rebuild(value, values)
        else:
            kwargs[field.name] = value
    return type(default)(**kwargs)


def add_config_flags(
    parser: argparse.ArgumentParser,
    default,
    *,
    names: Mapping[str, str] | None = None,
    choices: Mapping[str, Iterable] | None = None,
    metavars: Mapping[str, str] | None = None,
    skip: Iterable[str] = (),
) -> ConfigFlags:
    """Add a flag for every field of the config ``default`` and of its parts.

    ``names``: a flag's name by field name, where it is not the field's; ``choices``:
    the allowed values by field name (the library's registries); ``metavars``: how the
    help writes a value; ``skip``: fields that get no flag (the command sets them).
    """
    options, skip = dict(names or {}), frozenset(skip)
    flags: list[Flag] = []

    def add(container, config, path: tuple[str, ...]) -> None:
        hints = typing.get_type_hints(type(config))
        docs = attribute_docs(type(config))
        for field in dataclasses.fields(config):
            value = getattr(config, field.name)
            if not field.init or field.name in skip:
                continue
            if dataclasses.is_dataclass(value):
                group = parser.add_argument_group(field.name, _plain(docs.get(field.name)))
                add(group, value, (*path, field.name))
                continue
            option = options.get(field.name, "--" + field.name.replace("_", "-"))
            kind, several = _kind(hints[field.name], field.name, value)
            kwargs = {
                "dest": field.name,
                "default": value,
                "help": _help(docs.get(field.name), value),
            }
            if kind is bool:
                kwargs["action"] = argparse.BooleanOptionalAction
            else:
                metavar = option[2:].upper().replace("-", "_")
                kwargs |= {"type": kind, "metavar": (metavars or {}).get(field.name, metavar)}
                kwargs |= {"nargs": "+"} if several else {}
            if choices and field.name in choices:
                kwargs |= {"choices": tuple(choices[field.name]), "metavar": None}
            if any(f.dest == field.name for f in flags):
                raise ValueError(f"{field.name!r} names two fields of {type(default).__name__}")
            container.add_argument(option, **kwargs)
            flags.append(Flag((*path, field.name), option, value, several))

    add(parser, default, ())
    return ConfigFlags(default, tuple(flags))


def _plain(doc: str | None) -> str | None:
    """A docstring entry as help text: no reST quotes, and ``%`` escaped for argparse."""
    return doc.replace("``", "").replace("%", "%%") if doc else None


def _help(doc: str | None, default) -> str | None:
    """A flag's help: its field's docstring entry, and the default where there is one."""
    text = _plain(doc)
    return text if text is None or default in (None, ()) else f"{text} (default: %(default)s)"


def _kind(hint, name: str, default) -> tuple[object, bool]:
    """The argparse type of a field annotated ``hint``, and whether it takes several."""
    if typing.get_origin(hint) is tuple:
        return _kind(typing.get_args(hint)[0], name, None)[0], True
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        kinds = [k for k in typing.get_args(hint) if k is not type(None)]
        if len(kinds) == 1:
            return _kind(kinds[0], name, default)
        if set(kinds) == {int, str} and isinstance(default, str):
            return _int_or(default), False
    if hint in (bool, int, float, str):
        return hint, False
    raise TypeError(f"field {name!r} ({hint}) makes no flag: skip it and set it in the command")


def _int_or(word: str):
    """The type of an ``int | str`` field whose default is ``word``: a number or that word
    (``--chunk-size auto``); the config checks the number."""

    def parse(text: str) -> int | str:
        if text == word:
            return text
        try:
            return int(text)
        except ValueError:
            message = f"expected an integer or {word!r}, got {text!r}"
            raise argparse.ArgumentTypeError(message) from None

    return parse
