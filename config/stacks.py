"""``kill -USR2 <pid>`` writes every thread's stack to a server's log: what a stuck daphne or
worker is doing, while it goes on running. Python's faulthandler writes them from its signal
handler, without the interpreter's lock, so it answers even when a thread holds that lock."""

import faulthandler
import signal

STACKS_SIGNAL = signal.SIGUSR2
STDERR = 2


def stacks_on_signal() -> None:
    """From now on, STACKS_SIGNAL writes this process's threads' stacks to its standard error,
    by descriptor (a Celery worker replaces ``sys.stderr`` with a logger, which has none)."""
    faulthandler.register(STACKS_SIGNAL, file=STDERR, all_threads=True)
