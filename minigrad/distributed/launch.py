"""Which wires the ranks of an ``mpirun`` job talk over.

On one machine Open MPI passes messages through shared memory. Between
machines they go over the network, by TCP. The same TCP code can be run on
one machine, over the loopback interface (127.0.0.1), which is how the tests
exercise the path a job across machines takes without a second machine:

    mpirun -n 2 $(python -m minigrad.distributed.launch tcp-loopback) python train.py

``mpirun_options(fabric)`` gives those options as a list, for scripts that
start mpirun themselves (the tests, benchmarks/distributed.py).
"""
from __future__ import annotations

import sys

__all__ = ["FABRICS", "mpirun_options"]

# Open MPI's options for each way of carrying the messages of one machine's ranks.
FABRICS = {
    # Open MPI's own choice on one machine: its shared-memory transport.
    "shared-memory": (),
    # The point-to-point layer that runs over Open MPI's transports (ob1; not
    # UCX, which would pick its own), the TCP transport alone (plus "self",
    # a rank's messages to itself), on the loopback interface only, over IPv4
    # only: every byte between the ranks goes through 127.0.0.1.
    "tcp-loopback": ("--mca", "pml", "ob1", "--mca", "btl", "tcp,self",
                     "--mca", "btl_tcp_if_include", "lo", "--mca", "btl_tcp_disable_family", "6"),
}


def mpirun_options(fabric: str = "shared-memory") -> list:
    """The ``mpirun`` options that make a job's ranks talk over ``fabric``
    ("shared-memory" or "tcp-loopback").

    >>> mpirun_options("tcp-loopback")[:4]
    ['--mca', 'pml', 'ob1', '--mca']
    """
    if fabric not in FABRICS:
        raise ValueError(f"mpirun_options: fabric must be one of {sorted(FABRICS)}, "
                         f"got {fabric!r}")
    return list(FABRICS[fabric])


if __name__ == "__main__":
    print(" ".join(mpirun_options(*sys.argv[1:2])))
