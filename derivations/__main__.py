"""``python -m derivations [--check]``: the same as ``convlib derive``."""

from .generate import main

raise SystemExit(main())
