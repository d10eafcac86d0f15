"""Bench-only entry point: `python bench/gateway_traced.py run --config X` = `python -m gateway run`,
plus memory checkpoints on SIGUSR1 (for bench/soak.py --mem-dir; the gateway itself is unchanged).

Environment:
* OCPP_SOAK_MEM_DIR (required): each SIGUSR1 writes checkpoint-NN.json there (RSS, glibc mallinfo2,
  pymalloc arena counts, gc object counts by type) and, when tracing, snapshot-NN.pickle;
* OCPP_SOAK_TRACEMALLOC=N: start tracemalloc with N frames at the first checkpoint (0 or unset: no tracing,
  no overhead); not at start-up, where loading the schemas under tracemalloc takes ~10x longer, so
  snapshots exist from the second checkpoint on and show what was allocated since the first
  (bench/soak.py takes the first before any charger connects);
* OCPP_SOAK_REFERRERS=Type1,Type2: for up to 3 objects of each named type (by __qualname__), the types of
  their referrers two levels up (to see what keeps them alive);
* OCPP_SOAK_WS_HEARTBEAT_FIX=1: an experiment, not a fix: patch aiohttp's server WebSocketResponse so a
  closed socket does not re-arm its heartbeat. In aiohttp 3.14.5 the Close frame a charger sends back
  (or any late data) calls _on_data_received -> _reset_heartbeat after close(), which schedules
  _send_heartbeat (+ping_interval), which schedules _pong_not_received (+ping_interval/2); the
  TimerHandles keep the closed WebSocketResponse, its Request, RequestHandler, transport and buffers
  alive for ~1.5 x listen.ping_interval (45 s by default) after the close;
* OCPP_SOAK_MALLOC_TRIM=1: call glibc malloc_trim(0) after each checkpoint and record the RSS after it
  (shows how much of RSS is free memory the allocator had kept).

Compare snapshots with bench/memdiff.py.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import ctypes.util
import gc
import json
import os
import signal
import sys
import time
import tracemalloc
from pathlib import Path
from types import FrameType
from typing import Any


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
        "keepcost")]


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
_mallinfo2 = getattr(_libc, "mallinfo2", None)
if _mallinfo2 is not None:
    _mallinfo2.restype = _Mallinfo2


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def mallinfo() -> dict[str, int]:
    if _mallinfo2 is None:
        return {}
    m = _mallinfo2()
    # arena: bytes from brk; hblkhd: bytes in mmap'd blocks; uordblks: in use; fordblks: free (kept)
    return {field[0]: int(getattr(m, field[0])) for field in _Mallinfo2._fields_}


def pymalloc() -> dict[str, int]:
    """Arena counts parsed from sys._debugmallocstats() (written to fd 2, so captured via a pipe)."""
    r, w = os.pipe()
    saved = os.dup(2)
    try:
        os.dup2(w, 2)
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(w)
    chunks = []
    while data := os.read(r, 65536):
        chunks.append(data)
    os.close(r)
    out: dict[str, int] = {}
    for line in b"".join(chunks).decode(errors="replace").splitlines():
        for key in ("arenas allocated total", "arenas reclaimed", "arenas highwater mark", "arenas allocated current",
                    "bytes in allocated blocks", "bytes in available blocks", "unused pools",
                    "bytes lost to pool headers", "bytes lost to quantization", "bytes lost to arena alignment"):
            if line.startswith("# " + key) or line.startswith(key):
                value = line.rsplit("=", 1)[-1].strip().replace(",", "")
                if value.isdigit():
                    out[key] = int(value)
    return out


def _describe(obj: object) -> str:
    name = type(obj).__qualname__
    if isinstance(obj, dict):
        keys = [str(k) for k in list(obj)[:6]]
        return f"dict(len={len(obj)}, keys={keys})"
    if isinstance(obj, list | tuple | set | frozenset | collections.deque):
        return f"{name}(len={len(obj)})"
    if type(obj).__name__ in ("method", "builtin_function_or_method"):
        return f"{name} {getattr(obj, '__qualname__', '?')}"
    if isinstance(obj, asyncio.Handle):
        return f"{name} cancelled={obj.cancelled()} {obj!r}"[:300]
    return name


def referrers(objects: list[object], type_names: list[str], per_type: int = 3) -> dict[str, Any]:
    """Up to per_type objects of each named type, with their referrers and the referrers' referrers."""
    out: dict[str, Any] = {}
    ignore = {id(objects)}
    for name in type_names:
        found = [o for o in objects if type(o).__qualname__ == name]
        samples = found[:: max(1, len(found) // per_type)][:per_type]
        entries = []
        for obj in samples:
            state = {a: repr(getattr(obj, a, None))[:120] for a in ("transport", "closed", "_closed", "_closing",
                                                                    "close_code", "_force_close", "_sock")
                     if hasattr(obj, a)}
            level1 = []
            refs = [r for r in gc.get_referrers(obj) if id(r) not in ignore and not isinstance(r, FrameType)]
            for ref in refs[:8]:
                ref2 = [r for r in gc.get_referrers(ref)
                        if id(r) not in ignore and r is not refs and not isinstance(r, FrameType)]
                level1.append({"ref": _describe(ref), "its_referrers": [_describe(r) for r in ref2[:6]]})
            del refs
            entries.append({"state": state, "referrers": level1})
        out[name] = {"count": len(found), "samples": entries}
        del found, samples
    return out


_n = 0


def checkpoint(_sig: int = 0, _frame: FrameType | None = None) -> None:
    global _n
    _n += 1
    directory = Path(os.environ["OCPP_SOAK_MEM_DIR"])
    frames = int(os.environ.get("OCPP_SOAK_TRACEMALLOC", "0") or 0)
    t0 = time.monotonic()
    gc.collect()
    info: dict[str, Any] = {"n": _n, "time": time.time(), "rss_kib": rss_kib(), "mallinfo2": mallinfo(),
                            "pymalloc": pymalloc()}
    objects = gc.get_objects()
    info["gc_objects"] = len(objects)
    info["gc_types"] = dict(collections.Counter(type(o).__qualname__ for o in objects).most_common(80))
    info["open_fds"] = len(os.listdir("/proc/self/fd"))
    wanted = [t for t in os.environ.get("OCPP_SOAK_REFERRERS", "").split(",") if t]
    if wanted:
        info["referrers"] = referrers(objects, wanted)
    del objects
    if frames > 0 and not tracemalloc.is_tracing():
        tracemalloc.start(frames)
        info["tracemalloc_started"] = True
    elif tracemalloc.is_tracing():
        current, peak = tracemalloc.get_traced_memory()
        info["tracemalloc_current"], info["tracemalloc_peak"] = current, peak
        info["tracemalloc_overhead"] = tracemalloc.get_tracemalloc_memory()
        tracemalloc.take_snapshot().dump(str(directory / f"snapshot-{_n:02d}.pickle"))
        tracemalloc.reset_peak()
    if os.environ.get("OCPP_SOAK_MALLOC_TRIM") == "1":
        _libc.malloc_trim(0)
        info["rss_kib_after_trim"] = rss_kib()
        info["mallinfo2_after_trim"] = mallinfo()
    info["seconds"] = round(time.monotonic() - t0, 2)
    (directory / f"checkpoint-{_n:02d}.json").write_text(json.dumps(info, indent=1))


def _patch_ws_heartbeat() -> None:
    from aiohttp import web_ws

    cls: Any = web_ws.WebSocketResponse
    reset, send = cls._reset_heartbeat, cls._send_heartbeat

    def _reset_heartbeat(self: Any) -> None:
        if self._closed or self._closing:
            return
        reset(self)

    def _send_heartbeat(self: Any) -> None:
        if self._closed or self._closing:
            self._heartbeat_cb = None
            return
        send(self)

    cls._reset_heartbeat, cls._send_heartbeat = _reset_heartbeat, _send_heartbeat


def main() -> int:
    if os.environ.get("OCPP_SOAK_WS_HEARTBEAT_FIX") == "1":
        _patch_ws_heartbeat()
    signal.signal(signal.SIGUSR1, checkpoint)
    sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repository, not bench/
    from gateway.cli import main as gateway_main

    return gateway_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
