"""Gateway vs. plain-relay benchmark: one command, alternating rounds, markdown out.

Starts bench/sink.py (the CSMS), then for each round starts the baseline
(bench/relay.py) and the system under test (`python -m gateway run`) in turn,
waits until it is ready, drives it with bench/loadgen.py and samples the
SUT's process tree from /proc: CPU seconds (utime+stime) over the measurement
window and RSS. Prints per-round and median tables with gateway/relay ratios.

    .venv/bin/python bench/compare.py --scenario passthrough16 --chargers 100 --seconds 10
    .venv/bin/python bench/compare.py --scenario idle --chargers 2000

Scenarios and systems under test are table entries (SCENARIOS, SUTS) so new
ones (translated 1.6->2.0.1, SOAP) are one entry each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import procstat
import yaml
from bench_frames import OCPP16, OCPP201

Json = dict[str, Any]  # a decoded JSON object

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PY = sys.executable
#: Both SUTs run with glibc's mmap threshold pinned (as the gateway's Docker image does): left adaptive, it
#: sometimes serves asyncio's 256 KiB read buffer by mmap/munmap on every read, which made single rounds of
#: either SUT cost up to twice as much (docs/operations.md, "Memory allocator").
SUT_ENV = {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=524288:glibc.malloc.trim_threshold=1048576",
           **os.environ}


@dataclass(frozen=True)
class Scenario:
    mode: str  # "load" (calls/s, latency, CPU) or "idle" (memory per connection)
    charger_dialect: str  # what the simulated chargers speak
    upstream_dialect: str  # what the SUT must speak to the sink (differs => translation)
    chargers: int  # default --chargers
    seconds: float  # default --seconds (load window, or idle CPU window)
    # Load generator family: "ocppj" (loadgen.py) or "soap" (soap_loadgen.py). A SUT that cannot
    # serve SOAP (the relay) gets the ocppj driver with charger_dialect: the equivalent JSON traffic.
    driver: str = "ocppj"
    transactions: bool = False  # loadgen --transactions: StartTransaction once, its id in every MeterValues
    soap_version: str | None = None  # driver "soap": "1.5", "1.6" or "mix" (half each)
    note: str = ""

    @property
    def translated(self) -> bool:
        # The relay cannot translate: it passes the charger's subprotocol through and the sink
        # answers that dialect, so the baseline is the plain relay of the same charger traffic.
        return self.charger_dialect != self.upstream_dialect or self.driver == "soap"


SCENARIOS: dict[str, Scenario] = {
    "passthrough16": Scenario("load", OCPP16, OCPP16, 100, 10.0, note="OCPP-J 1.6 in and out"),
    "passthrough201": Scenario("load", OCPP201, OCPP201, 100, 10.0, note="OCPP-J 2.0.1 in and out"),
    "idle": Scenario("idle", OCPP16, OCPP16, 2000, 5.0, note="connected + booted, then silent"),
    "translated16to201": Scenario(
        "load",
        OCPP16,
        OCPP201,
        100,
        10.0,
        transactions=True,
        note="1.6 chargers, 2.0.1 CSMS: one StartTransaction per charger, then MeterValues (with its "
        "transactionId) / Heartbeat / StatusNotification",
    ),
    # SOAP chargers (POST /soap) at the gateway; the relay, which cannot carry SOAP, relays the
    # equivalent OCPP-J 1.6 traffic (same mix, same payload content) instead.
    "soap16to16": Scenario(
        "load", OCPP16, OCPP16, 100, 10.0, driver="soap", soap_version="1.6",
        note="OCPP 1.6 SOAP chargers, 1.6 CSMS (SOAP <-> OCPP-J, no translation)",
    ),
    "soap15to16": Scenario(
        "load", OCPP16, OCPP16, 100, 10.0, driver="soap", soap_version="1.5",
        note="OCPP 1.5 SOAP chargers, 1.6 CSMS (SOAP <-> OCPP-J plus the 1.5 -> 1.6 lift)",
    ),
    "soapmix16": Scenario(
        "load", OCPP16, OCPP16, 100, 10.0, driver="soap", soap_version="mix",
        note="half OCPP 1.5, half 1.6 SOAP chargers, 1.6 CSMS",
    ),
    "soap15to201": Scenario(
        "load", OCPP16, OCPP201, 100, 10.0, driver="soap", soap_version="1.5", transactions=True,
        note="OCPP 1.5 SOAP chargers, 2.0.1 CSMS: one StartTransaction per charger, then MeterValues (with its "
        "transactionId) / Heartbeat / StatusNotification (lift to 1.6, then 1.6 -> 2.0.1)",
    ),
}


@dataclass
class Ports:
    sink: int
    listen: int
    admin: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- systems under test ---------------------------------------------------------


def charger_ids(args: argparse.Namespace, round_no: int) -> list[str]:
    """The charge box ids the load generator uses in a round (loadgen --id-prefix + 5 digits)."""
    return [f"R{round_no}CP{i:05d}" for i in range(args.chargers)]


def relay_cmd(ports: Ports, sc: Scenario, workdir: Path, args: argparse.Namespace, round_no: int) -> list[str]:
    # No dialect argument: the relay dials the sink with the charger's own subprotocol, so in a
    # translated scenario it is the plain relay of the untranslated traffic (sc.upstream_dialect unused).
    return [
        PY,
        str(BENCH / "relay.py"),
        "--listen-port",
        str(ports.listen),
        "--upstream-url",
        f"ws://127.0.0.1:{ports.sink}/ocpp",
        "--max-seconds",
        str(args.max_seconds),
    ]


def gateway_cmd(ports: Ports, sc: Scenario, workdir: Path, args: argparse.Namespace, round_no: int) -> list[str]:
    config: Json = {}
    if args.gateway_config:  # a template for keys the bench does not know about
        config = yaml.safe_load(Path(args.gateway_config).read_text()) or {}
    config.update(
        {
            "listen": {"host": "127.0.0.1", "port": ports.listen},
            "upstream": {"url": f"ws://127.0.0.1:{ports.sink}/ocpp", "dialect": sc.upstream_dialect},
            "admin": {"host": "127.0.0.1", "port": ports.admin},
            "state": {"path": str(workdir / "gateway-state.sqlite")},
        }
    )
    if sc.driver == "soap":  # SOAP chargers are admitted by the listed chargeBoxIdentity
        config["chargers"] = {**(config.get("chargers") or {}), **{i: {} for i in charger_ids(args, round_no)}}
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return [PY, "-m", "gateway", "run", "--config", str(path)]


@dataclass(frozen=True)
class Sut:
    command: Callable[[Ports, Scenario, Path, argparse.Namespace, int], list[str]]
    health_path: str | None  # admin endpoint that must return 200; None = TCP accept suffices
    soap: bool = False  # serves SOAP chargers on /soap (else a SOAP scenario drives it with OCPP-J)


SUTS: dict[str, Sut] = {
    "relay": Sut(relay_cmd, None),
    "gateway": Sut(gateway_cmd, "/healthz", soap=True),
}


# --- process helpers -------------------------------------------------------------


async def wait_tcp(port: int, timeout: float, proc: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            await w.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"port {port} not accepting after {timeout}s")


async def wait_health(port: int, path: str, timeout: float, proc: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise RuntimeError(f"process exited with {proc.returncode} before healthy")
            try:
                async with http.get(f"http://127.0.0.1:{port}{path}") as resp:
                    if resp.status == 200:
                        return
            except (TimeoutError, aiohttp.ClientError):
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{path} on port {port} not 200 after {timeout}s")


async def stop(proc: asyncio.subprocess.Process, grace: float = 5.0) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    return proc.returncode if proc.returncode is not None else -1


def tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


# --- one measured run --------------------------------------------------------------


def loadgen_cmd(sc: Scenario, ports: Ports, args: argparse.Namespace, round_no: int, soap: bool) -> list[str]:
    if sc.driver == "soap" and soap:
        return soap_loadgen_cmd(sc, ports, args, round_no)
    if sc.driver not in ("ocppj", "soap"):
        raise NotImplementedError(f"no load generator for driver {sc.driver!r}")
    cmd = [
        PY,
        str(BENCH / "loadgen.py"),
        "--url",
        f"ws://127.0.0.1:{ports.listen}/ocpp",
        "--dialect",
        sc.charger_dialect,
        "--chargers",
        str(args.chargers),
        "--id-prefix",
        f"R{round_no}CP",
        "--seed",
        str(round_no),
    ]
    if sc.mode == "idle":
        # Hold long enough for settle + CPU window; compare.py ends it earlier via stdin.
        return [*cmd, "--mode", "idle", "--hold", str(args.seconds + args.settle + 60)]
    cmd += [
        "--seconds",
        str(args.seconds),
        "--warmup",
        str(args.warmup),
        "--rate",
        str(args.rate),
        "--pipeline",
        str(args.pipeline),
    ]
    if args.calls:
        cmd += ["--calls", str(args.calls)]
    if sc.transactions:
        cmd.append("--transactions")
    return cmd


def soap_loadgen_cmd(sc: Scenario, ports: Ports, args: argparse.Namespace, round_no: int) -> list[str]:
    if sc.mode != "load" or args.pipeline != 1:
        raise NotImplementedError("SOAP chargers: load mode only, one request at a time (no --pipeline)")
    cmd = [
        PY,
        str(BENCH / "soap_loadgen.py"),
        "--url",
        f"http://127.0.0.1:{ports.listen}/soap",
        "--soap-version",
        sc.soap_version or "1.6",
        "--chargers",
        str(args.chargers),
        "--id-prefix",
        f"R{round_no}CP",
        "--seed",
        str(round_no),
        "--seconds",
        str(args.seconds),
        "--warmup",
        str(args.warmup),
        "--rate",
        str(args.rate),
    ]
    if args.calls:
        cmd += ["--calls", str(args.calls)]
    if sc.transactions:
        cmd.append("--transactions")
    return cmd


async def measure(
    name: str,
    sut: Sut,
    sc: Scenario,
    args: argparse.Namespace,
    sink_pid: int,
    sink_port: int,
    workdir: Path,
    round_no: int,
) -> Json:
    ports = Ports(sink_port, free_port(), free_port())
    rundir = workdir / f"{name}-r{round_no}"
    rundir.mkdir()
    sut_log = rundir / "sut.log"
    with sut_log.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *sut.command(ports, sc, rundir, args, round_no),
            cwd=REPO,
            env=SUT_ENV,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    out: Json = {"sut": name, "round": round_no}
    try:
        await wait_tcp(ports.listen, args.ready_timeout, proc)
        if sut.health_path:
            await wait_health(ports.admin, sut.health_path, args.ready_timeout, proc)
        await asyncio.sleep(1.0)  # let start-up allocations settle before the baseline RSS
        out["rss_start_kib"] = procstat.rss_kib(proc.pid)
        out |= await drive(proc.pid, sc, ports, args, sink_pid, rundir, round_no, sut.soap)
        if proc.returncode is not None:
            out["error"] = f"SUT exited with {proc.returncode} during the run"
    except Exception as exc:  # report and keep going with the other runs
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        code = await stop(proc)
    if "error" in out:
        print(f"[{name} r{round_no}] {out['error']}\n--- SUT log tail ---\n{tail(sut_log)}", file=sys.stderr)
    out["exit_code"] = code
    return out


async def drive(
    pid: int,
    sc: Scenario,
    ports: Ports,
    args: argparse.Namespace,
    sink_pid: int,
    rundir: Path,
    round_no: int,
    soap: bool,
) -> Json:
    lg_log = rundir / "loadgen.log"
    with lg_log.open("wb") as log:
        lg = await asyncio.create_subprocess_exec(
            *loadgen_cmd(sc, ports, args, round_no, soap),
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
    assert lg.stdout is not None and lg.stdin is not None
    out: Json = {}
    mark: dict[str, float] = {}
    sink_mark: dict[str, int] = {}
    budget = args.warmup + args.seconds + args.settle + 120 + args.chargers / 50
    deadline = time.monotonic() + budget
    try:
        while True:
            line = await asyncio.wait_for(lg.stdout.readline(), max(0.1, deadline - time.monotonic()))
            if not line:
                break
            kind, _, rest = line.decode().strip().partition(" ")
            phase = rest.partition(" ")[0]
            if kind == "RESULT":
                out["loadgen"] = json.loads(rest)
            elif phase == "measure-start":
                mark = sample(pid, sink_pid, lg.pid)
                sink_mark = await sink_stats(ports.sink)
            elif phase == "measure-end":
                end = sample(pid, sink_pid, lg.pid)
                out |= window(mark, end)
                out["rss_end_kib"] = procstat.rss_kib(pid)
                sink_end = await sink_stats(ports.sink)
                # Calls that reached the sink during the window (approximate at the edges): shows
                # what the SUT actually sent upstream, e.g. TransactionEvent instead of MeterValues.
                out["upstream_calls"] = {
                    k: n - sink_mark.get(k, 0) for k, n in sorted(sink_end.items()) if n - sink_mark.get(k, 0)
                }
            elif phase == "idle-ready":
                await asyncio.sleep(args.settle)  # connections set up; let buffers settle
                rss = []
                for _ in range(3):
                    rss.append(procstat.rss_kib(pid))
                    await asyncio.sleep(0.3)
                out["rss_idle_kib"] = statistics.median(rss)
                mark = sample(pid, sink_pid, lg.pid)
                await asyncio.sleep(args.seconds)
                out |= window(mark, sample(pid, sink_pid, lg.pid))
                lg.stdin.write(b"stop\n")
                await lg.stdin.drain()
        await asyncio.wait_for(lg.wait(), 30)
    except TimeoutError:
        out["error"] = f"loadgen did not finish within {budget:.0f}s"
    finally:
        if lg.returncode is None:
            lg.kill()
            await lg.wait()
    if "loadgen" not in out and "error" not in out:
        out["error"] = f"loadgen gave no result (exit {lg.returncode}): {tail(lg_log, 5)}"
    elif "error" in out.get("loadgen", {}):
        out["error"] = out["loadgen"]["error"]
    return out


async def sink_stats(port: int) -> dict[str, int]:
    """Calls the sink has received so far, per "dialect Action"; {} if it cannot say."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http,
            http.get(f"http://127.0.0.1:{port}/stats") as resp,
        ):
            by_action: dict[str, int] = (await resp.json())["by_action"]
            return by_action
    except (TimeoutError, aiohttp.ClientError, ValueError, KeyError):
        return {}


def sample(pid: int, sink_pid: int, lg_pid: int) -> dict[str, float]:
    return {
        "t": time.monotonic(),
        "sut": procstat.cpu_seconds(pid),
        "sink": procstat.cpu_seconds(sink_pid),
        "lg": procstat.cpu_seconds(lg_pid),
        "host": procstat.host_busy_seconds(),
    }


def window(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    dt = b["t"] - a["t"]
    return {
        "cpu_s": b["sut"] - a["sut"],
        "cpu_window_s": dt,
        "sut_cpu_pct": 100 * (b["sut"] - a["sut"]) / dt,
        "sink_cpu_pct": 100 * (b["sink"] - a["sink"]) / dt,
        "lg_cpu_pct": 100 * (b["lg"] - a["lg"]) / dt,
        # CPU used by anything but SUT, sink and loadgen: a noisy round shows up here.
        "other_cpu_pct": 100 * ((b["host"] - a["host"]) - sum(b[k] - a[k] for k in ("sut", "sink", "lg"))) / dt,
    }


# --- reporting ---------------------------------------------------------------------


def metrics(sc: Scenario, r: Json) -> dict[str, float | None]:
    """The reported numbers of one run; None when the run failed."""
    if "error" in r:
        return {}
    lg = r["loadgen"]
    if sc.mode == "idle":
        n = lg["connected"]
        return {
            "chargers connected": n,
            "RSS after start MiB": r["rss_start_kib"] / 1024,
            "RSS with chargers MiB": r["rss_idle_kib"] / 1024,
            "RSS per charger KiB": (r["rss_idle_kib"] - r["rss_start_kib"]) / n if n else None,
            "connect+boot all s": lg["connect_seconds"],
            "idle CPU %": r["sut_cpu_pct"],
            "other CPU %": r["other_cpu_pct"],
            "disconnects": lg["disconnects"],
        }
    calls = lg["calls"]
    return {
        "calls/s": lg["calls_per_s"],
        "p50 ms": lg["p50_ms"],
        "p99 ms": lg["p99_ms"],
        "CPU s per 1k calls": 1000 * r["cpu_s"] / calls if calls else None,
        "SUT CPU %": r["sut_cpu_pct"],
        "RSS end MiB": r["rss_end_kib"] / 1024,
        "errors": lg["call_errors"] + lg["timeouts"] + lg["disconnects"] + lg.get("transport_errors", 0),
        "upstream calls per call": sum(r.get("upstream_calls", {}).values()) / calls if calls else None,
        "loadgen CPU %": r["lg_cpu_pct"],
        "sink CPU %": r["sink_cpu_pct"],
        "other CPU %": r["other_cpu_pct"],
    }


def fmt(v: float | None) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, int):
        return str(v)
    if abs(v) < 1e-6:  # float noise from subtracting tick counts
        return "0"
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def report(sc_name: str, sc: Scenario, labels: tuple[str, str], runs: list[Json], args: argparse.Namespace) -> str:
    base, sut = labels
    if sc.driver == "soap":
        soap = {"mix": "half OCPP 1.5, half 1.6"}.get(sc.soap_version or "", f"OCPP {sc.soap_version}")
        route = (
            f"OCPP-J {sc.charger_dialect} -> {base} -> {sc.charger_dialect} (the equivalent JSON traffic) vs. "
            f"{soap} SOAP 1.2 -> {sut} POST /soap -> {sc.upstream_dialect}"
        )
    elif sc.translated:
        route = (
            f"{sc.charger_dialect} -> {base} -> {sc.charger_dialect} (untranslated) vs. "
            f"{sc.charger_dialect} -> {sut} -> {sc.upstream_dialect} (translated)"
        )
    else:
        route = f"{sc.charger_dialect} -> SUT -> {sc.upstream_dialect}"
    lines = [
        f"### {sc_name}: {sc.note}",
        "",
        f"{args.chargers} chargers, {route}, "
        + ("each charger starts one transaction after boot, " if sc.transactions else "")
        + (
            f"{args.seconds:g}s idle CPU window"
            if sc.mode == "idle"
            else f"{args.seconds:g}s window after {args.warmup:g}s warm-up, pipeline={args.pipeline}, "
            + (f"rate=max for the {sut}, the {base} paced to the {sut}'s calls/s of the same round"
               if args.matched else f"rate={'max' if not args.rate else args.rate}")
        )
        + f"; {args.rounds} alternating rounds; {platform.python_implementation()} "
        f"{platform.python_version()}, aiohttp {aiohttp.__version__}, {_cores()} cores.",
        "",
    ]
    per = [(r, metrics(sc, r)) for r in runs]
    keys = next((list(m) for _, m in per if m), [])
    # Median per metric over rounds: robust to one noisy round on a shared 2-core box.
    med: dict[str, dict[str, float | None]] = {}
    for label in labels:
        ms = [m for r, m in per if r["sut"] == label and m]
        med[label] = {k: _median([m[k] for m in ms]) for k in keys}
    lines += [f"| metric (median) | {base} | {sut} | {sut}/{base} |", "|---|---:|---:|---:|"]
    for k in keys:
        b, s = med[base][k], med[sut][k]
        ratio = s / b if b is not None and s is not None and b != 0 else None
        lines.append(f"| {k} | {fmt(b)} | {fmt(s)} | {fmt(ratio)} |")
    pairs = _round_ratios(per, labels, "CPU s per 1k calls")
    if pairs:
        # Each round runs both back to back, so a round's own ratio shows how much the machine drifted.
        lines += ["", f"{sut}/{base} CPU per call, round by round: " + ", ".join(fmt(p) for p in pairs)
                  + f" (median {fmt(statistics.median(pairs))})."]
    if args.matched:
        short = _unmatched_rounds(per, labels)
        if short:
            lines += ["", f"Not matched (the {base} fell short of the {sut}'s calls/s, so its calls cost more and the "
                      "round's ratio reads low): " + "; ".join(short) + "."]
    lines += ["", "Per round:", "", "| run | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for r, m in per:
        cells = [fmt(m.get(k)) for k in keys] if m else [f"failed: {r.get('error', '?')}"] + [""] * (len(keys) - 1)
        lines.append(f"| {r['sut']} r{r['round']} | " + " | ".join(cells) + " |")
    mixes = [(r, m) for r, m in per if m and r.get("upstream_calls")]
    if sc.mode == "load" and mixes:
        lines += ["", "Calls the sink received in the window, per 100 charger calls:", ""]
        for r, _ in mixes:
            calls = r["loadgen"]["calls"]
            mix = ", ".join(f"{k} {100 * n / calls:.1f}" for k, n in r["upstream_calls"].items())
            lines.append(f"* {r['sut']} r{r['round']}: {mix}")
    return "\n".join(lines)


def _by_round(per: list[tuple[Json, dict[str, float | None]]], labels: tuple[str, str],
              key: str) -> list[tuple[int, float | None, float | None]]:
    """(round, baseline value, SUT value) of one metric, for each round where either ran."""
    by_round: dict[int, dict[str, float | None]] = {}
    for r, m in per:
        if m:
            by_round.setdefault(r["round"], {})[r["sut"]] = m.get(key)
    base, sut = labels
    return [(rnd, pair.get(base), pair.get(sut)) for rnd, pair in sorted(by_round.items())]


def _round_ratios(per: list[tuple[Json, dict[str, float | None]]], labels: tuple[str, str], key: str) -> list[float]:
    """SUT/baseline of one metric within each round where both ran (rounds alternate baseline, SUT)."""
    return [s / b for _, b, s in _by_round(per, labels, key) if b and s is not None]


#: --matched: a baseline round below this share of the SUT's calls/s did not carry the same traffic.
MATCH_TOLERANCE = 0.97


def _unmatched_rounds(per: list[tuple[Json, dict[str, float | None]]], labels: tuple[str, str]) -> list[str]:
    """--matched rounds whose baseline could not reach the SUT's rate (the machine, not the relay, was full)."""
    return [f"round {rnd}, {fmt(b)} of {fmt(s)} calls/s" for rnd, b, s in _by_round(per, labels, "calls/s")
            if b is not None and s and b < MATCH_TOLERANCE * s]


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _paced_like(args: argparse.Namespace, sut_run: Json) -> argparse.Namespace:
    """--matched: the baseline's arguments for a round, paced to the calls/s the SUT reached flat out.

    An event loop's CPU per call falls as its load rises (more frames per wake-up, per epoll_wait, per
    write), so a relay flat out at three times the gateway's throughput is cheaper per call for that
    reason alone. Pacing it to the gateway's own throughput compares the two on the same traffic.
    """
    rate = sut_run.get("loadgen", {}).get("calls_per_s")
    return argparse.Namespace(**{**vars(args), "rate": round(rate) if rate else args.rate})


def _cores() -> int:
    return len(os.sched_getaffinity(0))


# --- main --------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    sc = SCENARIOS[args.scenario]
    base_name, sut_name = "relay", args.sut
    labels = (base_name, sut_name if sut_name != base_name else "relay(as SUT)")
    # Logs and gateway config/state live outside the repo; --keep-logs leaves them for inspection.
    tmp_cm = (
        contextlib.nullcontext(tempfile.mkdtemp(prefix="ocpp-bench-"))
        if args.keep_logs
        else tempfile.TemporaryDirectory(prefix="ocpp-bench-")
    )
    with tmp_cm as tmp:
        workdir = Path(tmp)
        if args.keep_logs:
            print(f"logs kept in {workdir}", file=sys.stderr)
        sink_port = free_port()
        sink_log = workdir / "sink.log"
        with sink_log.open("wb") as log:
            sink = await asyncio.create_subprocess_exec(
                PY,
                str(BENCH / "sink.py"),
                "--port",
                str(sink_port),
                "--max-seconds",
                str(args.max_seconds),
                cwd=REPO,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        runs: list[Json] = []
        try:
            await wait_tcp(sink_port, args.ready_timeout, sink)
            for rnd in range(1, args.rounds + 1):
                # Alternate so drift (thermal, other tenants) hits both sides equally.
                order = ((labels[0], base_name), (labels[1], sut_name))
                if args.matched:
                    order = order[::-1]  # the SUT first: its throughput sets the relay's rate
                round_args = args
                for label, key in order:
                    print(f"[{time.strftime('%H:%M:%S')}] round {rnd}: {label} ...", file=sys.stderr, flush=True)
                    r = await measure(label, SUTS[key], sc, round_args, sink.pid, sink_port, workdir, rnd)
                    if args.matched and key == sut_name:
                        round_args = _paced_like(args, r)
                    runs.append(r)
                    m = metrics(sc, r)
                    print(
                        "    " + (", ".join(f"{k}={fmt(v)}" for k, v in m.items()) or r.get("error", "?")),
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            await stop(sink)
        print(report(args.scenario, sc, labels, runs, args))
        if args.json_out:
            Path(args.json_out).write_text(json.dumps({"scenario": args.scenario, "runs": runs}, indent=1))
        return 1 if any("error" in r for r in runs) else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", choices=sorted(SCENARIOS), default="passthrough16")
    ap.add_argument("--chargers", type=int, default=None, help="default depends on the scenario")
    ap.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="load: measurement window; idle: CPU window while holding (scenario default)",
    )
    ap.add_argument("--rounds", type=int, default=2, help="rounds per system (each round: relay, then SUT)")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--calls", type=int, default=None, help="load: end the window after this many calls")
    ap.add_argument("--rate", type=float, default=0.0, help="load: total calls/s target (0 = max)")
    ap.add_argument("--matched", action="store_true",
                    help="load: the SUT runs flat out first, then the relay at the SUT's calls/s (same traffic)")
    ap.add_argument("--pipeline", type=int, default=1, help="load: outstanding CALLs per charger (>1 breaks OCPP-J)")
    ap.add_argument("--settle", type=float, default=2.0, help="idle: seconds after connecting before RSS")
    ap.add_argument("--ready-timeout", type=float, default=30.0)
    ap.add_argument("--gateway-config", default=None, help="YAML template merged under the bench's keys")
    ap.add_argument("--json-out", default=None, help="also write raw per-run data here")
    ap.add_argument("--keep-logs", action="store_true", help="keep SUT/loadgen logs and configs (path printed)")
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=1800.0,
        help="self-exit timer passed to sink/relay so nothing outlives a crashed bench",
    )
    # Hidden: measure the relay against itself while the gateway does not exist yet.
    ap.add_argument("--sut", choices=sorted(SUTS), default="gateway", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sc = SCENARIOS[args.scenario]
    args.chargers = args.chargers or sc.chargers
    args.seconds = args.seconds or sc.seconds
    if args.rounds < 1:
        ap.error("--rounds must be >= 1")
    if args.matched and (args.rate or sc.mode != "load"):
        ap.error("--matched paces the relay itself: it needs a load scenario and no --rate")
    # Children inherit rlimits: raising ours covers loadgen, sink, relay *and* the gateway,
    # which then needs no setrlimit of its own when run through this script.
    limit, need = procstat.raise_nofile_limit(), 2 * args.chargers + 256
    if limit < need:
        print(f"warning: RLIMIT_NOFILE hard limit {limit} < {need} needed by the SUT", file=sys.stderr)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
