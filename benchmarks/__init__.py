"""Benchmarks: autograd_lite side by side with micrograd, HIPS autograd and PyTorch.

Run ``python -m benchmarks`` (``--quick`` for a smoke run, ``--json out.json`` to keep the
numbers). Importing this package pins BLAS to one thread (for every library in the run,
before numpy loads): on small matrices a threaded BLAS on a 2-core machine is mostly
synchronisation cost, and the comparison must be like for like.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
