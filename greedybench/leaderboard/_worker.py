"""The drop-in solver's own process for ``greedybench compare`` (:mod:`.sandbox` starts it).

Run as a script, ``python .../greedybench/leaderboard/_worker.py`` (a fresh interpreter: nothing of
the parent's memory is inherited; as a script it skips importing the ``greedybench.leaderboard``
package, which the solver does not need: a second less to start). It speaks a small framed
protocol (:mod:`._protocol`) on its original stdin/stdout (JSON headers, arrays as ``.npz`` bytes,
never pickle); the solver's own prints go to stderr, which the parent
keeps in a log. It holds only what the parent sends per batch (A, y, the sizes, sigma and the
public meta fields): never the true signal, its support, the seed or the hidden set.

Messages (parent -> worker): ``load`` (the solver file, the memory cap, threads, device), ``solve``
(variant index, warm-up count, sizes, public meta; payload A, y), ``close``. Replies: ``ok`` with x
(payload) and the time of the timed call, ``error`` (this batch broke the contract: counted as
failed problems), or ``fatal`` (the solver exited, or ran out of memory: compare stops).
"""

from __future__ import annotations

import io
import os
import resource
import sys

if __name__ == "__main__":  # run as a script: its folder is sys.path[0]; take the framing, then drop it
    from _protocol import read_frame, write_frame  # noqa: E402
    del sys.path[0]
else:
    from ._protocol import read_frame, write_frame

def _memory_error(exc: BaseException):
    """The exception in ``exc``'s chain that says memory ran out (MemoryError, torch's allocator
    errors), else None."""
    while exc is not None:
        text = str(exc)
        if isinstance(exc, MemoryError) or "can't allocate memory" in text or "out of memory" in text.lower():
            return exc
        exc = exc.__cause__
    return None


def _die_with_parent() -> None:
    """prctl(PR_SET_PDEATHSIG, SIGKILL): a solver still running when compare is killed ends too
    (Linux; elsewhere the worker ends at the next read of its closed input)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def main() -> int:
    _die_with_parent()
    # the protocol keeps the original stdin/stdout; fd 0 becomes /dev/null, fd 1 goes to stderr
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)

    import numpy as np
    import torch

    from greedybench.pipeline.timing import time_call
    from greedybench.registry import (ProblemBatch, SolverContractError, SolverEntry, discover, load_entry,
                                      run_solver_ex)
    from greedybench.storage import set_threads

    builtins = discover()  # before the solver file is sent: the built-in names (its name must be new)
    variants = []
    while True:
        try:
            msg, payload = read_frame(proto_in)
        except EOFError:
            return 0
        op = msg.get("op")
        if op == "close":
            return 0
        try:
            if op == "load":
                if msg.get("memory_bytes"):
                    lim = int(msg["memory_bytes"])
                    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
                set_threads(int(msg.get("threads", 1)))
                path = os.path.realpath(msg["path"])
                entry = load_entry(path)  # the registry's loader, as discover([path]) uses it
                if entry.name in builtins:
                    entry = SolverEntry(name=entry.name, path=entry.path, available=False,
                                        reason=f"name {entry.name!r} is already used by {builtins[entry.name].path}")
                decl = {"name": entry.name, "available": entry.available, "reason": entry.reason,
                        "capabilities": dict(entry.capabilities), "description": entry.description,
                        "variants": [], "variants_error": ""}
                if entry.available:
                    try:
                        variants = entry.variants()
                        decl["variants"] = [{"name": v.name, "params_json": v.params_json} for v in variants]
                    except Exception as exc:  # noqa: BLE001 -- reported to the parent, which explains it
                        decl["variants_error"] = str(exc)
                write_frame(proto_out, {"reply": "ok", "entry": decl})
            elif op == "solve":
                variant = variants[int(msg["variant"])]
                with np.load(io.BytesIO(payload), allow_pickle=False) as z:
                    A = torch.from_numpy(z["A"]).to(msg["device"])
                    y = torch.from_numpy(z["y"]).to(msg["device"])
                problem = ProblemBatch(A=A, y=y, m=int(msg["m"]), N=int(msg["N"]), s=int(msg["s"]),
                                       sigma=float(msg["sigma"]), meta=dict(msg["meta"]))
                try:
                    t = time_call(lambda: run_solver_ex(variant, problem), device=msg["device"], repeats=1,
                                  warmup=int(msg.get("warmup", 0)))
                except SolverContractError as exc:
                    mem = _memory_error(exc.__cause__)
                    if mem is not None:
                        write_frame(proto_out, {"reply": "fatal", "kind": "memory",
                                                "detail": f"{type(mem).__name__}: {mem}"})
                        return 3
                    write_frame(proto_out, {"reply": "error", "detail": str(exc)})
                    continue
                x, n_iter = t.result
                x = x.detach().resolve_conj().resolve_neg().cpu().contiguous().numpy()
                buf = io.BytesIO()
                np.savez(buf, x=x)
                write_frame(proto_out, {"reply": "ok", "time_s": float(t.median),
                                        "n_iter": None if n_iter is None else [int(k) for k in n_iter]},
                            buf.getvalue())
            else:
                write_frame(proto_out, {"reply": "fatal", "kind": "protocol", "detail": f"unknown op {op!r}"})
                return 4
        except SystemExit as exc:
            write_frame(proto_out, {"reply": "fatal", "kind": "exit", "detail": f"SystemExit({exc.code!r})"})
            return 5
        except BaseException as exc:  # noqa: BLE001 -- anything else ends the worker with a reason
            kind = "memory" if _memory_error(exc) is not None else "crash"
            try:
                write_frame(proto_out, {"reply": "fatal", "kind": kind, "detail": f"{type(exc).__name__}: {exc}"})
            except BaseException:  # noqa: BLE001 -- the pipe may be gone too
                pass
            return 6


if __name__ == "__main__":
    sys.exit(main())
