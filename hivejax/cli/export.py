"""``hivejax export PROGRAM --to jax|numpy|torch|optax|sympy``: a program as standalone source.

Prints a module that needs no hivejax import, ready to paste: ``loss(logits, labels)``,
``activation(x)``, or an optimizer (an optax ``GradientTransformation``, a
``torch.optim.Optimizer`` subclass, or numpy ``init``/``step`` functions); with ``--to
sympy``, the program's formula as a sympy expression, its ops' float32 guards dropped. See
``hj.export_program`` for what each task becomes and how faithful the code is.
"""

import hivejax as hj


def add(sub) -> None:
    """Add ``export`` to the subcommands ``sub``."""
    p = sub.add_parser(
        "export", help="print a program as standalone jax, numpy, torch or sympy code"
    )
    p.add_argument("program", help="a program file (JSON or binary) or builtin:NAME")
    p.add_argument(
        "--to",
        choices=hj.EXPORT_TARGETS,
        default="jax",
        help="the library the code uses (optax: an optimizer as an optax "
        "GradientTransformation, the same as jax; sympy: the formula as a sympy expression, "
        "what the ops mean without their float32 guards)",
    )
    p.set_defaults(run=export)


def export(args) -> None:
    """Print the program as source code for ``args.to``."""
    spec, program = hj.load_program(args.program)
    print(hj.export_program(spec, program, args.to), end="")
