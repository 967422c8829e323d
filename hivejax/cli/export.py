"""``hivejax export PROGRAM --to jax|numpy|torch|optax``: a program as standalone source.

Prints a module that needs no hivejax import, ready to paste: ``loss(logits, labels)``,
``activation(x)``, or an optimizer (an optax ``GradientTransformation``, a
``torch.optim.Optimizer`` subclass, or numpy ``init``/``step`` functions); see
``hivejax._src.io.export`` for what each task becomes and how faithful the code is.
"""

import hivejax as hj
from hivejax._src.io.export import TARGETS, export_program


def add_export(sub) -> None:
    p = sub.add_parser("export", help="print a program as standalone jax, numpy or torch code")
    p.add_argument("program", help="a program file (JSON or binary) or builtin:NAME")
    p.add_argument(
        "--to",
        choices=TARGETS,
        default="jax",
        help="the library the code uses (optax: an optimizer as an optax "
        "GradientTransformation; the same as jax)",
    )


def cmd_export(args) -> None:
    spec, program = hj.load_program(args.program)
    print(export_program(spec, program, args.to), end="")
