"""Run the ocpp-rpc interop peers (csms.js, charger.js) from Python tests.

The peers need `npm ci --prefix tests/interop` (done by `make test`). When it has not been
run, every helper raises InteropPeerError saying so: the interop tests fail, never skip.

Typical use::

    csms, port = await run_csms(tmp_path)
    try:
        summary = await run_charger(f"ws://127.0.0.1:{gateway_port}/ocpp", "CB1", "ocpp1.6")
        [csms_summary] = await wait_csms_summaries(tmp_path, 1)
    finally:
        await stop_csms(csms, tmp_path)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import time
from pathlib import Path
from typing import Any

INTEROP_DIR = Path(__file__).resolve().parent
OCPP_RPC_VERSION: str = json.loads((INTEROP_DIR / "package.json").read_text())["dependencies"]["ocpp-rpc"]
NOT_READY = (
    f"the OCPP interop peers need node and ocpp-rpc {OCPP_RPC_VERSION} in {INTEROP_DIR / 'node_modules'}: "
    "run `make test` (it runs `npm ci --prefix tests/interop`)"
)


class InteropPeerError(RuntimeError):
    """A node peer could not be started, crashed, or produced no summary."""


def npm_ready() -> bool:
    """True if node is on PATH and the pinned ocpp-rpc is installed in tests/interop/node_modules."""
    if shutil.which("node") is None:
        return False
    try:
        installed = json.loads((INTEROP_DIR / "node_modules" / "ocpp-rpc" / "package.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(installed.get("version") == OCPP_RPC_VERSION)


def require_npm() -> None:
    if not npm_ready():
        raise InteropPeerError(NOT_READY)


def _node() -> str:
    require_npm()
    node = shutil.which("node")
    assert node is not None
    return node


def _json_lines(text: str) -> list[dict[str, Any]]:
    events = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
    return events


def _csms_files(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "csms.jsonl", tmp_path / "csms.stderr"


def csms_events(tmp_path: Path) -> list[dict[str, Any]]:
    """Every JSON line the CSMS started in tmp_path has printed so far."""
    out, _ = _csms_files(tmp_path)
    return _json_lines(out.read_text()) if out.exists() else []


def _csms_failure(tmp_path: Path, what: str) -> InteropPeerError:
    out, err = _csms_files(tmp_path)
    stderr = err.read_text() if err.exists() else ""
    stdout = out.read_text() if out.exists() else ""
    return InteropPeerError(f"csms.js {what}\n--- stderr ---\n{stderr}\n--- stdout ---\n{stdout[-4000:]}")


async def run_csms(
    tmp_path: Path, *, sessions: int = 0, wait_ms: int = 10_000, startup_timeout: float = 10.0,
    behind_translation: bool = False,
) -> tuple[asyncio.subprocess.Process, int]:
    """Start csms.js on 127.0.0.1 with a free port; return (process, port) once it listens.

    Its stdout (JSON lines) and stderr go to tmp_path/csms.jsonl and tmp_path/csms.stderr,
    so one CSMS per tmp_path. With sessions=N it exits by itself after N client sessions.
    Stop it with stop_csms().
    """
    node = _node()
    out, err = _csms_files(tmp_path)
    if out.exists():
        raise InteropPeerError(f"a CSMS already ran in {tmp_path}")
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            node,
            "csms.js",
            "--port",
            "0",
            "--sessions",
            str(sessions),
            "--wait-ms",
            str(wait_ms),
            *(["--behind-translation"] if behind_translation else []),
            cwd=INTEROP_DIR,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        for event in csms_events(tmp_path):
            if event.get("event") == "listening":
                return proc, int(event["port"])
        if proc.returncode is not None:
            break
        await asyncio.sleep(0.05)
    if proc.returncode is None:
        proc.kill()
    await proc.wait()
    raise _csms_failure(tmp_path, f"did not start listening (exit code {proc.returncode})")


async def wait_csms_summaries(tmp_path: Path, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    """Wait until the CSMS has printed `count` session summaries; return them in order."""
    deadline = time.monotonic() + timeout
    while True:
        summaries = [e for e in csms_events(tmp_path) if e.get("event") == "summary"]
        if len(summaries) >= count:
            return summaries
        if time.monotonic() >= deadline:
            raise _csms_failure(tmp_path, f"printed {len(summaries)} of {count} session summaries")
        await asyncio.sleep(0.05)


async def wait_csms_event(tmp_path: Path, event: str, timeout: float = 15.0) -> dict[str, Any]:
    """Wait until the CSMS has printed a line with this `event` (e.g. "script done"); return it."""
    deadline = time.monotonic() + timeout
    while True:
        for line in csms_events(tmp_path):
            if line.get("event") == event:
                return line
        if time.monotonic() >= deadline:
            raise _csms_failure(tmp_path, f"printed no {event!r} line within {timeout} s")
        await asyncio.sleep(0.05)


async def stop_csms(proc: asyncio.subprocess.Process, tmp_path: Path, timeout: float = 10.0) -> list[dict[str, Any]]:
    """SIGTERM the CSMS (if still running), wait for it, and return all its JSON lines.

    Exit codes 0 (all sessions clean) and 1 (some session had errors: see its summary) are
    normal; anything else raises with the captured stderr.
    """
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise _csms_failure(tmp_path, f"did not exit within {timeout} s of SIGTERM") from None
    if proc.returncode not in (0, 1):
        raise _csms_failure(tmp_path, f"exited with code {proc.returncode}")
    return csms_events(tmp_path)


async def run_charger(url: str, identity: str, protocol: str, *, timeout: float = 30.0) -> dict[str, Any]:
    """Run charger.js against `url` (ocpp-rpc connects to {url}/{identity}); return its summary.

    The summary is {"event": "summary", "identity", "protocol", "calls_in", "calls_out",
    "violations", "errors"} plus "returncode" (0 only if no violations and no errors) and
    "events" (every other JSON line, e.g. {"event": "call", "dir", "action", "id", "ok"}).
    A charger that ran but found problems returns normally: assert on the summary. Raises
    InteropPeerError with the captured stderr if node crashed or printed no summary.
    """
    node = _node()
    proc = await asyncio.create_subprocess_exec(
        node,
        "charger.js",
        "--url",
        url,
        "--identity",
        identity,
        "--protocol",
        protocol,
        "--timeout-ms",
        str(int(timeout * 1000)),
        cwd=INTEROP_DIR,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout + 10)
    except TimeoutError:
        proc.kill()
        stdout, stderr = await proc.communicate()
        raise InteropPeerError(
            f"charger.js {identity} hung past {timeout + 10} s\n--- stderr ---\n{stderr.decode(errors='replace')}"
        ) from None
    events = _json_lines(stdout.decode(errors="replace"))
    summaries = [e for e in events if e.get("event") == "summary"]
    if proc.returncode not in (0, 1) or not summaries:
        raise InteropPeerError(
            f"charger.js {identity} failed (exit code {proc.returncode})\n"
            f"--- stderr ---\n{stderr.decode(errors='replace')}\n"
            f"--- stdout ---\n{stdout.decode(errors='replace')[-4000:]}"
        )
    summary = summaries[-1]
    summary["returncode"] = proc.returncode
    summary["events"] = [e for e in events if e.get("event") != "summary"]
    return summary
