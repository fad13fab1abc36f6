"""The ``convlib`` command: ``convlib verify``, ``convlib derive``, ``convlib bench``."""

from __future__ import annotations

import sys

USAGE = """usage: convlib COMMAND [options]

commands:
  verify   check the vectorized layer against the loop reference, JAX AD,
           finite differences and the adjoint identity (exit 1 on disagreement)
  derive   regenerate derivations/ with SymPy (--check: compare, write nothing)
  bench    time convlib against its peers and the GEMM ceiling

`convlib COMMAND --help` describes each command's options.
"""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "verify":
        from .verify import main as run
    elif command == "derive":
        try:
            from derivations.generate import main as run
        except ImportError as exc:
            print(
                f"convlib derive needs SymPy and the derivations package: {exc}\n"
                "install with: pip install -e '.[derive]'",
                file=sys.stderr,
            )
            return 2
    elif command == "bench":
        from .bench import main as run
    else:
        print(f"convlib: unknown command {command!r}\n\n{USAGE}", file=sys.stderr, end="")
        return 2
    return run(rest)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
