"""Wall-clock limits for pipeline jobs (issue 18: a hanging solver hung the whole run).

:func:`time_limit` runs a block under a limit in two stages:

1. at the limit, ``SIGALRM`` (main thread only) raises :class:`JobTimeoutError` in the block: the
   job fails with a traceback naming the limit, its ``finally`` blocks run, and atomic writes leave
   no partial file. Python code and interruptible waits stop here.
2. a watchdog thread: if the block still runs ``grace_s`` seconds later (a C call that never
   returns to the interpreter, or a block outside the main thread, which gets no signal), it
   writes the message to stderr and ends the process with exit status :data:`EXIT_CODE` (124, as
   ``timeout(1)``), so Snakemake sees a failed job instead of waiting forever.

The job wrapper :func:`greedybench.storage.job_log` takes ``timeout_s`` (the config's
``job_timeout_s``; environment ``GREEDYBENCH_JOB_TIMEOUT_S`` when not given).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from typing import Optional

from ._validation import GreedybenchError, InvalidParameterError

__all__ = ["JobTimeoutError", "time_limit", "timeout_from_env", "EXIT_CODE", "ENV_VAR"]

EXIT_CODE = 124
ENV_VAR = "GREEDYBENCH_JOB_TIMEOUT_S"


class JobTimeoutError(GreedybenchError, TimeoutError):
    """A job ran past its wall-clock limit."""


def _check_seconds(name: str, value, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not allow_zero):
        raise InvalidParameterError(f"time_limit: {name} must be a finite number > 0"
                                    f"{' or 0' if allow_zero else ''}; got {value!r}.")
    return float(value)


def timeout_from_env() -> Optional[float]:
    """``GREEDYBENCH_JOB_TIMEOUT_S`` as seconds, or None when unset or empty."""
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidParameterError(f"{ENV_VAR} must be a number of seconds; got {raw!r}.") from None
    return _check_seconds(ENV_VAR, value)


@contextlib.contextmanager
def time_limit(seconds: Optional[float], *, what: str = "job", grace_s: float = 30.0):
    """Run the block under a wall-clock limit of ``seconds`` (None: no limit); see the module doc.

    Nests with an enclosing ``SIGALRM`` timer (e.g. pytest-timeout's): its handler and its
    remaining time are restored on exit.
    """
    if seconds is None:
        yield
        return
    seconds = _check_seconds("seconds", seconds)
    grace_s = _check_seconds("grace_s", grace_s, allow_zero=True)
    message = f"{what} timed out: still running after the limit of {seconds:g} s (job_timeout_s)"
    done = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()

    def watchdog():
        if done.wait(seconds + (grace_s if in_main else 0.0)):
            return
        after = f" {grace_s:g} s after the alarm" if in_main else ""
        text = f"greedybench: {message}; it did not stop{after}: ending the process (exit status {EXIT_CODE}).\n"
        for stream in {id(s): s for s in (sys.stderr, sys.__stderr__) if s is not None}.values():
            try:
                stream.write(text)
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(EXIT_CODE)

    old_handler, old_timer, start = None, (0.0, 0.0), time.monotonic()
    if in_main:
        def on_alarm(signum, frame):
            raise JobTimeoutError(message + ".")

        old_handler = signal.signal(signal.SIGALRM, on_alarm)
        old_timer = signal.setitimer(signal.ITIMER_REAL, seconds)
    thread = threading.Thread(target=watchdog, name="greedybench-time-limit", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        if in_main:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_handler if old_handler is not None else signal.SIG_DFL)
            if old_timer[0] > 0:
                left = old_timer[0] - (time.monotonic() - start)
                signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), old_timer[1])
