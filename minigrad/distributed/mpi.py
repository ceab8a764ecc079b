"""mpi4py, imported on first use, and what a job does when one rank fails.

mpi4py is an optional extra (``pip install 'minigrad[distributed]'`` brings
mpi4py and the Open MPI wheel with ``mpirun``), so ``import minigrad`` and
``import minigrad.distributed`` never import it; the first communicator does.
"""
from __future__ import annotations

import contextlib
import sys
import traceback

from ..errors import MinigradError

__all__ = ["DistributedError", "load_mpi", "abort_on_error"]

_INSTALL = ("pip install 'minigrad[distributed]' (mpi4py and Open MPI with mpirun), or "
            "pip install mpi4py against an MPI already on the machine")


class DistributedError(MinigradError, RuntimeError):
    """The ranks of a job disagree (other parameters, other layouts), or the
    distributed machinery is missing. Raised on every rank alike, so no rank is
    left waiting for the others."""


def load_mpi():
    """``mpi4py.MPI``, or a DistributedError that says how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise DistributedError(f"minigrad.distributed needs mpi4py, which is not importable "
                               f"({exc}); {_INSTALL}") from exc
    return MPI


@contextlib.contextmanager
def abort_on_error():
    """Run the block; if it raises on this rank, print the traceback and abort
    the whole MPI job, so that the other ranks do not wait forever in their
    next collective. (``mpirun ... python -m mpi4py script.py`` does the same
    for a whole script.) A clean ``SystemExit(0)`` passes through.

    Used around the body of a training script::

        with abort_on_error():
            main()
    """
    try:
        yield
    except SystemExit as exc:
        if exc.code in (None, 0):
            raise
        _abort(exc, f"exit status {exc.code}")
    except BaseException as exc:  # KeyboardInterrupt too: the others must stop as well
        _abort(exc, type(exc).__name__)


def _abort(exc, what):
    MPI = load_mpi()
    world = MPI.COMM_WORLD
    if world.Get_size() == 1:
        raise exc
    traceback.print_exception(exc, file=sys.stderr)
    print(f"rank {world.Get_rank()} of {world.Get_size()} failed ({what}); aborting the job",
          file=sys.stderr, flush=True)
    sys.stdout.flush()
    world.Abort(1)
