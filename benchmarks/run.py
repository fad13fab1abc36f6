"""The benchmark of issue 5, as a script: ``python benchmarks/run.py [options]``.

The same as ``convlib bench [options]`` (see ``convlib bench --help`` and
``convlib/bench/``); results are described in ``benchmarks/RESULTS.md``.  If the
machine sets ``OPENBLAS_CORETYPE`` or ``OPENBLAS_L2_SIZE`` (old OpenBLAS
workarounds that slow a current NumPy by 1.3-2.5x), run this command alone as
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py``.
"""

import sys

from convlib.bench import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
