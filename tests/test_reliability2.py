"""Reliability round 2 (issue 18): validation messages that named the wrong problem, and job
timeouts (greedybench/_timeout.py, storage.job_log)."""

import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

import greedybench as gb
from greedybench._timeout import EXIT_CODE, JobTimeoutError, time_limit
from greedybench._validation import (DeviceError, InvalidParameterError, NonFiniteError, check_int,
                                     check_positive, check_problem)
from greedybench.nn import OMPNet
from greedybench.storage import job_log


def _problem(dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    A = torch.randn(8, 16, generator=g, dtype=dtype)
    return A, torch.randn(3, 8, generator=g, dtype=dtype)


# --- misleading messages -----------------------------------------------------------------------

def test_finite_float64_weights_overflowing_float32_are_reported_as_overflow():
    A, y = _problem(torch.float32)
    w = torch.ones(16, dtype=torch.float64)
    w[3] = 1e300
    with pytest.raises(NonFiniteError, match=r"weights overflow on the cast to torch\.float32.*1e\+300") as info:
        gb.omp(A, y, 2, weights=w)
    assert "contains non-finite" not in str(info.value)
    w[3] = float("inf")                                         # a real Inf is still called that
    with pytest.raises(NonFiniteError, match=r"weights contains non-finite values \(0 NaN, 1 Inf\)"):
        gb.omp(A, y, 2, weights=w)
    w[3] = 3e38                                                 # within float32's range: accepted
    gb.omp(A, y, 2, weights=w)


@pytest.mark.parametrize("which", ["A", "y", "weights"])
def test_sparse_tensors_are_refused_clearly(which):
    A, y = _problem()
    w = torch.ones(16, dtype=torch.float64)
    kw = {"A": A, "y": y, "weights": w}
    kw[which] = kw[which].to_sparse()
    with pytest.raises(InvalidParameterError, match=rf"{which} must be a dense \(strided\) tensor; got layout "
                                                    r"torch\.sparse_coo.*to_dense"):
        check_problem(kw["A"], kw["y"], weights=kw["weights"], caller="omp")
    with pytest.raises(InvalidParameterError, match="dense"):
        gb.omp(kw["A"], kw["y"], 2, weights=kw["weights"])


@pytest.mark.parametrize("which", ["A", "y", "weights"])
def test_meta_tensors_are_refused_clearly(which):
    A, y = _problem()
    w = torch.ones(16, dtype=torch.float64)
    kw = {"A": A, "y": y, "weights": w}
    kw[which] = kw[which].to("meta")
    with pytest.raises(DeviceError, match=rf"{which} must be a tensor with data.*meta tensor"):
        check_problem(kw["A"], kw["y"], weights=kw["weights"], caller="omp")


def test_meta_and_sparse_scalars_and_operators():
    with pytest.raises(DeviceError, match="meta tensor"):
        check_positive("tau", torch.tensor(1.0, device="meta"), caller="soft_omp")
    with pytest.raises(DeviceError, match="n_iter must be a tensor with data"):
        check_int("n_iter", torch.tensor(3, device="meta"), caller="iht")
    A, _ = _problem()
    with pytest.raises(InvalidParameterError, match="dense"):
        OMPNet(A.to_sparse(), 2)


# --- job timeouts ------------------------------------------------------------------------------

def _spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_time_limit_stops_a_running_block_with_a_clear_error():
    before = signal.getsignal(signal.SIGALRM)
    t0 = time.monotonic()
    with pytest.raises(JobTimeoutError, match=r"solve timed out: still running after the limit of 0\.2 s"):
        with time_limit(0.2, what="solve"):
            _spin(30)
    assert time.monotonic() - t0 < 10
    assert signal.getsignal(signal.SIGALRM) == before          # the handler was restored
    with time_limit(5):                                         # a block within its limit is untouched
        _spin(0.01)
    with time_limit(None):
        pass


def test_time_limit_restores_an_enclosing_timer():
    fired = []
    old = signal.signal(signal.SIGALRM, lambda *a: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        with time_limit(5):
            _spin(0.01)
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < left <= 1.0                                  # the outer timer is still armed
        _spin(left + 0.2)
        assert fired == [1]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "10", True])
def test_time_limit_refuses_bad_limits(bad):
    with pytest.raises(InvalidParameterError, match="seconds must be a finite number > 0"):
        with time_limit(bad):
            pass


def test_job_log_writes_the_timeout_to_the_log(tmp_path, monkeypatch):
    log = tmp_path / "logs" / "job.log"
    with pytest.raises(JobTimeoutError):
        with job_log(log, timeout_s=0.2):
            print("working")
            _spin(30)
    text = log.read_text()
    assert "working" in text and "JobTimeoutError" in text and "limit of 0.2 s" in text
    monkeypatch.setenv("GREEDYBENCH_JOB_TIMEOUT_S", "0.2")     # the environment's limit when none is given
    with pytest.raises(JobTimeoutError):
        with job_log(tmp_path / "b.log"):
            _spin(30)
    monkeypatch.setenv("GREEDYBENCH_JOB_TIMEOUT_S", "soon")
    with pytest.raises(InvalidParameterError, match="GREEDYBENCH_JOB_TIMEOUT_S must be a number"):
        with job_log(tmp_path / "c.log"):
            pass


def test_a_job_stuck_where_no_signal_reaches_is_ended_by_the_watchdog(tmp_path):
    # SIGALRM blocked: as a C call that never returns to the interpreter
    code = textwrap.dedent("""
        import signal, time
        from greedybench._timeout import time_limit
        with time_limit(0.3, grace_s=0.3):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(60)
        print("not reached")
    """)
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == EXIT_CODE, r.stderr
    assert "timed out: still running after the limit of 0.3 s" in r.stderr
    assert "not reached" not in r.stdout
    assert time.monotonic() - t0 < 60


def test_watchdog_grace_is_configurable_and_refused_when_bad():
    with pytest.raises(InvalidParameterError, match="grace_s must be a finite number > 0 or 0"):
        with time_limit(1, grace_s=-1):
            pass
