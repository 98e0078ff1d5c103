"""The drop-in solver of ``greedybench compare`` runs in its own process; scoring stays here.

:class:`Sandbox` starts ``python .../greedybench/leaderboard/_worker.py`` (a fresh interpreter, not
a fork: it inherits none of this process's memory) in a private temporary working directory. The
worker loads the solver file with the registry loader and, per batch, receives only ``A``, ``y``,
``m``, ``N``, ``s``, ``B``, ``sigma``, dtype, device and the public meta fields
(:data:`PUBLIC_META`: the family's description, no seed, no generator state, no hidden set ``T``),
calls ``solve`` timed the way the one solve core times built-ins (:func:`greedybench.pipeline.
timing.time_call` around the contract-checked call, one untimed warm-up on the first batch of a
family) and returns ``x`` (``.npz`` bytes, read here with ``allow_pickle=False``). This process
checks the contract again (shape, finite) and scores ``x`` with
:func:`greedybench.pipeline.core.score_rows`, the scoring half of ``solve_instance``: the rows are
the same as for a built-in solver. The solver cannot patch this process's scorer (it is another
process) and never sees the true signal.

Limits: a per-batch timeout (``timeout_s``, the warm-up call included), a memory cap
(``RLIMIT_AS`` of the worker, ``memory_gb``; on CUDA devices the cap is not applied, CUDA reserves
large address ranges), and a fatal failure (the solver exits, hangs, is killed, segfaults or runs
out of memory) raises :class:`SandboxFailure` naming what happened, the batch and the end of the
solver's output. A batch where ``solve`` raises or returns a wrong shape / NaN is a
:class:`~greedybench.registry.SolverContractError` (counted as failed problems by ``run_family``).
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from .._validation import GreedybenchError
from ..pipeline.core import problem_of, score_rows
from ..registry import SolverContractError, SolverEntry, Variant
from ._protocol import FRAME as _FRAME

__all__ = ["PUBLIC_META", "SandboxFailure", "Sandbox", "public_meta"]

#: the meta fields a sandboxed solver receives (everything else, e.g. seed, rng_seed, T, the file
#: name, is withheld: nothing from which the signal or its support can be rebuilt)
PUBLIC_META = ("family", "ensemble", "signal", "amplitude", "normalize", "shared_A", "K", "block", "complex",
               "dtype", "A_dtype", "m", "N", "s", "batch", "sigma")
#: the worker script (run by path: the solver's process does not import this package)
WORKER = Path(__file__).resolve().parent / "_worker.py"
STARTUP_S = 120.0  # the worker's own start (python, torch) on a loaded machine, before the solver file
_MAX_HEADER = 1 << 20


class SandboxFailure(GreedybenchError, RuntimeError):
    """The solver's process ended, hung or ran out of memory; ``kind`` is one of ``exit``,
    ``hang``, ``killed``, ``memory``, ``crash``, ``protocol``; the message says what and where."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def public_meta(meta: Dict[str, Any]) -> Dict[str, Any]:
    """The part of an instance's meta a sandboxed solver may see (:data:`PUBLIC_META`; ``T`` None)."""
    out = {k: meta[k] for k in PUBLIC_META if k in meta}
    out["T"] = None
    return out


def _set_dumpable(flag: bool) -> None:
    """prctl(PR_SET_DUMPABLE): a non-dumpable process cannot be read through /proc/<pid>/mem or
    ptrace by another process of the same (non-root) user. Linux only; a no-op elsewhere."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, int(flag), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


class Sandbox:
    """One worker process for one solver file (a context manager).

    Parameters
    ----------
    path : path of the solver file
    timeout_s : float
        Limit per batch (the warm-up call included) and, on top of :data:`STARTUP_S`, for loading.
    memory_gb : float or None
        Address-space cap of the worker (``RLIMIT_AS``); None or 0: no cap.
    threads : int
        torch threads in the worker.
    device : str
    """

    def __init__(self, path, *, timeout_s: float = 60.0, memory_gb: Optional[float] = 8.0, threads: int = 1,
                 device: str = "cpu"):
        self.path = Path(path)
        self.timeout_s = float(timeout_s)
        self.memory_gb = memory_gb
        self.threads = int(threads)
        self.device = device
        self.proc: Optional[subprocess.Popen] = None
        self.decl: Dict[str, Any] = {}
        self._tmp = None
        self._log = None
        self._tail = ""
        self._index: Dict[str, int] = {}
        self.batches = 0

    # -------------------------------------------------------------------------------- process

    def __enter__(self) -> "Sandbox":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> Dict[str, Any]:
        """:meth:`spawn`, then :meth:`load`: returns the file's declaration."""
        self.spawn()
        return self.load()

    def spawn(self) -> None:
        """Start the worker process. It imports torch and greedybench, then waits for :meth:`load`:
        no code of the solver file runs before that, so the caller can prepare meanwhile (the
        checksums taken in between are taken before the solver's code ran)."""
        self._tmp = tempfile.TemporaryDirectory(prefix="greedybench-sandbox-")
        self._log = open(Path(self._tmp.name) / "solver.log", "w+b")
        _set_dumpable(False)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, str(WORKER)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     cwd=self._tmp.name, env=env, start_new_session=True)
        os.set_blocking(self.proc.stdin.fileno(), False)

    def load(self) -> Dict[str, Any]:
        """Load the solver file in the worker (its module-level code runs there); returns its
        declaration (name, available, reason, capabilities, variants [{name, params_json}],
        variants_error)."""
        mem = int(self.memory_gb * 2**30) if self.memory_gb and not str(self.device).startswith("cuda") else 0
        reply, _ = self._call({"op": "load", "path": str(self.path), "memory_bytes": mem, "threads": self.threads},
                              b"", STARTUP_S + self.timeout_s, "while loading the file")
        self.decl = reply["entry"]
        return self.decl

    def close(self) -> None:
        if self.proc is not None:
            self._kill()  # it holds nothing worth a clean shutdown (torch's teardown takes a second)
            for fh in (self.proc.stdin, self.proc.stdout):
                try:
                    fh.close()
                except OSError:
                    pass
            self.proc = None
        _set_dumpable(True)
        if self._log is not None:
            self._tail = self.output_tail()
            self._log.close()
            self._log = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
            self.proc.wait()

    def output_tail(self, n: int = 400) -> str:
        """The end of what the solver printed (stdout and stderr), one line (kept after close)."""
        if self._log is None:
            return self._tail[-n:]
        self._log.flush()
        self._log.seek(0)
        text = self._log.read().decode(errors="replace")
        return " | ".join(text.strip().splitlines())[-n:]

    # -------------------------------------------------------------------------------- framing

    def _send(self, header: dict, payload: bytes, deadline: float) -> None:
        h = json.dumps(header).encode()
        data = memoryview(_FRAME.pack(len(h), len(payload)) + h + payload)
        fd = self.proc.stdin.fileno()
        while data:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise TimeoutError
            try:
                n = os.write(fd, data[:1 << 16])
            except BlockingIOError:
                continue
            data = data[n:]

    def _read(self, n: int, deadline: float) -> bytes:
        buf = bytearray()
        fd = self.proc.stdout.fileno()
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, min(n - len(buf), 1 << 20))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    def _call(self, header: dict, payload: bytes, timeout: float, where: str, max_payload: int = 0):
        deadline = time.monotonic() + timeout
        try:
            self._send(header, payload, deadline)
            hlen, plen = _FRAME.unpack(self._read(_FRAME.size, deadline))
            if hlen > _MAX_HEADER or plen > max_payload:
                raise ValueError(f"reply of {hlen} + {plen} bytes")
            reply = json.loads(self._read(hlen, deadline).decode())
            data = self._read(plen, deadline)
            if not isinstance(reply, dict):
                raise ValueError("reply is not a JSON object")
        except TimeoutError:
            self._kill()
            raise SandboxFailure("hang", f"{where}: it did not return within the time limit of "
                                 f"{timeout:g} s (--timeout-s; a loop that never ends?); its process was killed")
        except (EOFError, BrokenPipeError, ConnectionError):
            self._died(where)
        except ValueError as exc:
            self._kill()
            raise SandboxFailure("protocol", f"{where}: its process sent an unreadable reply ({exc})") from None
        if reply.get("reply") == "fatal":
            self._kill()
            self._fatal(reply.get("kind", "crash"), str(reply.get("detail", ""))[:600], where)
        return reply, data

    def _died(self, where: str):
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._kill()
            code = self.proc.returncode
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            why = {"SIGKILL": "was killed (SIGKILL: e.g. the system's out-of-memory killer)",
                   "SIGSEGV": "crashed with a segmentation fault (SIGSEGV)"}.get(name, f"was killed by signal {name}")
            raise SandboxFailure("killed", f"{where}: its process {why}")
        raise SandboxFailure("exit", f"{where}: its process ended by itself with exit code {code} "
                             "(os._exit or similar inside the solver file)")

    def _fatal(self, kind: str, detail: str, where: str):
        if kind == "exit":
            raise SandboxFailure("exit", f"{where}: the solver ended its process ({detail}: sys.exit or exit() "
                                 "inside the solver file)")
        if kind == "memory":
            cap = f"the memory cap of {self.memory_gb:g} GB (--memory-gb)" if self.memory_gb else "the available memory"
            raise SandboxFailure("memory", f"{where}: it ran out of memory under {cap}: {detail}")
        raise SandboxFailure(kind, f"{where}: its process failed: {detail}")

    # -------------------------------------------------------------------------------- solving

    def entry(self) -> SolverEntry:
        """A stand-in :class:`~greedybench.registry.SolverEntry` for the loaded file (no ``solve``:
        the solver's code is never imported into this process)."""
        d = self.decl
        return SolverEntry(name=d["name"], path=self.path.resolve(), available=bool(d["available"]),
                           reason=d.get("reason", ""), capabilities=dict(d.get("capabilities") or {}),
                           description=d.get("description", ""))

    def variants(self, entry: SolverEntry) -> List[Variant]:
        """The variants the worker expanded, as :class:`~greedybench.registry.Variant` of ``entry``."""
        out = []
        for v in self.decl["variants"]:
            var = Variant(entry, json.loads(v["params_json"]))
            var.name = v["name"]
            out.append(var)
        self._index = {v.name: i for i, v in enumerate(out)}
        return out

    def solve(self, variant: Variant, instance, *, success, device: str, dtype: str, experiment: str,
              family_name: str, family: Dict[str, Any], source: Optional[str] = None,
              hide_hidden_set: bool = True, warmup: int = 0, threads: Optional[int] = None,
              state=None) -> List[Dict[str, Any]]:
        """:func:`greedybench.pipeline.core.solve_instance` with the solver in the worker: the
        same arguments and rows. The hidden set is always withheld (``hide_hidden_set`` is
        accepted for the signature)."""
        problem = problem_of(instance, family_name=family_name, source=source, hide_hidden_set=True)
        where = f"solver {variant.name} ({self.path}) on {problem.describe()}"
        A = instance.A.detach().cpu().numpy()
        y = instance.Y.detach().cpu().numpy()
        buf = io.BytesIO()
        np.savez(buf, A=A, y=y)
        header = {"op": "solve", "variant": self._index[variant.name], "warmup": int(warmup),
                  "device": device, "m": problem.m, "N": problem.N, "s": problem.s, "sigma": problem.sigma,
                  "meta": public_meta(problem.meta)}
        B, N = problem.B, problem.N
        reply, data = self._call(header, buf.getvalue(), self.timeout_s, where,
                                 max_payload=16 * B * N + (1 << 16))
        self.batches += 1
        if reply.get("reply") == "error":
            raise SolverContractError(" ".join(str(reply.get("detail", ""))[:1000].split()))
        x, n_iter, t = self._decode(reply, data, where, B, N)
        x = torch.from_numpy(x).to(device)
        return score_rows(variant, instance, x, n_iter, t, success=success, device=device, dtype=dtype,
                          experiment=experiment, family_name=family_name, family=family, where=problem.describe())

    @staticmethod
    def _decode(reply: dict, data: bytes, where: str, B: int, N: int):
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                if list(z.files) != ["x"]:
                    raise ValueError(f"arrays {z.files}")
                x = z["x"]
        except Exception as exc:  # noqa: BLE001 -- anything unreadable is a contract break of this batch
            raise SolverContractError(f"{where}: its output could not be read back ({exc})") from None
        if x.dtype.kind not in "fciu":
            raise SolverContractError(f"{where}: solve must return a numeric tensor; got dtype {x.dtype}")
        if tuple(x.shape) != (B, N):
            raise SolverContractError(f"{where}: solve must return shape (B, N) = ({B}, {N}); got {tuple(x.shape)}")
        if not np.isfinite(x).all():
            bad = np.flatnonzero(~np.isfinite(x).all(axis=-1)).tolist()
            raise SolverContractError(f"{where}: output holds NaN or Inf in problems {bad[:10]}")
        t = reply.get("time_s")
        if not isinstance(t, (int, float)) or not np.isfinite(t) or t < 0:
            raise SolverContractError(f"{where}: its process reported no valid time ({t!r})")
        n_iter = reply.get("n_iter")
        if not (isinstance(n_iter, list) and len(n_iter) == B and all(isinstance(k, int) for k in n_iter)):
            n_iter = None
        return x, n_iter, float(t)
