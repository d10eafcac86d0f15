"""Soak benchmark: N chargers for a long run through a CSMS that crashes and restarts.

Starts the recording CSMS (soak_csms.py), the gateway (pass-through ocpp1.6 -> ocpp1.6, or
--translated 1.6 -> 2.0.1) and N simulated 1.6 chargers in this process. Each charger boots once,
then loops over transactions: StartTransaction (meterStart = its energy register), MeterValues
every --meter-interval seconds (the register, +10 Wh per message, so every transaction message of a
charger carries a distinct, increasing register value), StopTransaction (meterStop); Heartbeat
every --heartbeat-interval seconds. The CSMS is SIGKILLed (a crash: no Close frame, so the gateway
sees an outage, not a goodbye) --restarts times, evenly spread, and restarted on the same port after
--down seconds.

The chargers behave like real ones (OCPP 1.6 "Transaction-related messages"; docs/reliability.md):
* transaction messages go through a per-charger in-order outbox; a CALLERROR, no answer within
  --call-timeout, or a lost connection makes the charger resend the *same payload* with a *new
  message id* (a retry is a new CALL; OCPP-J ids must be unique per CALL) until a CALLRESULT arrives;
* a close (1013 after upstream.offline_close_after, or a refusal at connect) makes the charger
  reconnect with jittered exponential backoff (--backoff-initial .. --backoff-max), reset by the
  first CALLRESULT on a connection;
* Heartbeats are not retried (the next one comes anyway).

At the end (after --duration, no new transaction messages are generated and the outboxes get up
to --drain seconds to empty), each charger's acknowledged transaction messages are compared with
the CSMS's log, keyed by (charger, action, register):
* lost = acknowledged to the charger but never received by the CSMS (must be 0);
* duplicates = received more than once (allowed: a retry of a message whose answer was lost);
* retried = acknowledged only after more than one attempt.
The gateway's RSS (process tree, /proc) is sampled every --rss-interval seconds. Prints a
markdown summary to stdout (and --json-out).

    .venv/bin/python bench/soak.py                                   # 1,000 chargers, 10 min, 2 restarts
    .venv/bin/python bench/soak.py --chargers 100 --duration 90      # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import WSMsgType
from compare import free_port, stop, wait_health, wait_tcp
from procstat import cpu_seconds, raise_nofile_limit, rss_kib

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PY = sys.executable
Key = tuple[str, str, str]  # (charger id, action as the charger sent it, register Wh)
# what the CSMS logs for each charger action, per upstream dialect
UPSTREAM_KIND = {
    "ocpp1.6": {"StartTransaction": "StartTransaction", "MeterValues": "MeterValues",
                "StopTransaction": "StopTransaction"},
    "ocpp2.0.1": {"StartTransaction": "TransactionEvent.Started", "MeterValues": "TransactionEvent.Updated",
                  "StopTransaction": "TransactionEvent.Ended"},
}


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- accounting (pure) ----------------------------------------------------------------------


def account(acked: dict[Key, int], received: collections.Counter[Key], unacked: set[Key]) -> dict[str, int]:
    """Compare what chargers had acknowledged with what the CSMS received.

    acked: key -> attempts it took until a CALLRESULT; received: key -> times the CSMS logged it
    (keys already mapped to the charger's action); unacked: keys still in an outbox at the end.
    """
    lost = sum(1 for k in acked if received[k] == 0)
    return {
        "acknowledged": len(acked),
        "lost": lost,
        "duplicates": sum(n - 1 for n in received.values() if n > 1),
        "duplicated_messages": sum(1 for n in received.values() if n > 1),
        "retried": sum(1 for a in acked.values() if a > 1),
        "attempts": sum(acked.values()),
        "unacknowledged_at_end": len(unacked),
        "unacknowledged_but_received": sum(1 for k in unacked if received[k] > 0),
        "received_never_sent": sum(1 for k in received if k not in acked and k not in unacked),
    }


def read_csms_log(path: Path, upstream: str) -> tuple[collections.Counter[Key], collections.Counter[str]]:
    """Transaction messages received (as charger keys) and all calls received per kind."""
    back = {v: k for k, v in UPSTREAM_KIND[upstream].items()}
    received: collections.Counter[Key] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        cid, kind, reg = line.split("\t")
        kinds[kind] += 1
        if kind in back:
            received[(cid, back[kind], reg)] += 1
    return received, kinds


# --- chargers -----------------------------------------------------------------------------


@dataclass
class Stats:
    connects: int = 0
    connect_failures: int = 0
    closes: collections.Counter[str] = field(default_factory=collections.Counter)  # close code -> count
    tx_generated: int = 0
    tx_sent: int = 0  # attempts actually written to the socket
    callerrors: collections.Counter[str] = field(default_factory=collections.Counter)  # "action code"
    timeouts: int = 0
    conn_lost_in_flight: int = 0
    heartbeats_ok: int = 0
    heartbeats_failed: int = 0
    boots: int = 0


@dataclass
class Msg:
    action: str
    payload: dict[str, Any]
    key: Key
    attempts: int = 0
    done: asyncio.Future[dict[str, Any]] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Charger:
    def __init__(self, index: int, args: argparse.Namespace, stats: Stats, ending: asyncio.Event) -> None:
        self.id = f"SOAK{index:05d}"
        self.url = f"ws://127.0.0.1:{args.listen_port}/ocpp/{self.id}"
        self.args = args
        self.stats = stats
        self.ending = ending
        self.rng = random.Random(index)
        self.register = 0
        self.outbox: collections.deque[Msg] = collections.deque()
        self.outbox_changed = asyncio.Event()
        self.acked: dict[Key, int] = {}
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.ready = asyncio.Event()  # connected (and booted)
        self.booted = False
        self.pending: dict[str, asyncio.Future[tuple[int, Any]]] = {}
        self.lock = asyncio.Lock()  # one outstanding CALL per connection (OCPP-J)
        self.conn_no = 0
        self.seq = 0
        self.backoff = args.backoff_initial

    # -- connection --
    async def connection_loop(self, session: aiohttp.ClientSession) -> None:
        while True:
            try:
                async with asyncio.timeout(15):
                    self.ws = await session.ws_connect(self.url, protocols=("ocpp1.6",), heartbeat=None,
                                                       timeout=aiohttp.ClientWSTimeout(ws_close=2.0))
            except (TimeoutError, aiohttp.ClientError, OSError):
                self.stats.connect_failures += 1
                await self._sleep_backoff()
                continue
            self.stats.connects += 1
            self.conn_no += 1
            reader = asyncio.create_task(self._read(self.ws))
            if not self.booted:
                with contextlib.suppress(TimeoutError, ConnectionError):
                    kind, payload = await self.call("BootNotification",
                                                    {"chargePointVendor": "soak", "chargePointModel": "soak"})
                    self.booted = kind == 3 and payload.get("status") == "Accepted"
                    self.stats.boots += self.booted
            if self.booted:
                self.ready.set()
            else:
                await self.ws.close()
            await reader
            self.ready.clear()
            code = self.ws.close_code
            self.stats.closes[str(code)] += 1
            await self._sleep_backoff()

    async def _sleep_backoff(self) -> None:
        await asyncio.sleep(self.backoff * self.rng.uniform(0.5, 1.5))
        self.backoff = min(self.backoff * 2, self.args.backoff_max)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            if frame[0] == 2:
                await ws.send_str(json.dumps([4, frame[1], "NotSupported", "soak charger", {}]))
                continue
            fut = self.pending.pop(frame[1], None)
            if fut is not None and not fut.done():
                if frame[0] == 3:
                    self.backoff = self.args.backoff_initial  # the connection works
                    fut.set_result((3, frame[2]))
                else:
                    fut.set_result((4, frame[2]))
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("connection closed"))
        self.pending.clear()

    async def call(self, action: str, payload: dict[str, Any]) -> tuple[int, Any]:
        """(3, payload) or (4, error code); raises TimeoutError / ConnectionError."""
        async with self.lock:
            ws = self.ws
            if ws is None or ws.closed:
                raise ConnectionError("not connected")
            self.seq += 1
            msg_id = f"{self.conn_no}.{self.seq}"
            fut: asyncio.Future[tuple[int, Any]] = asyncio.get_running_loop().create_future()
            self.pending[msg_id] = fut
            try:
                await ws.send_str(json.dumps([2, msg_id, action, payload]))
            except (ConnectionError, RuntimeError) as e:
                self.pending.pop(msg_id, None)
                raise ConnectionError(str(e)) from e
            if action in UPSTREAM_KIND["ocpp1.6"]:
                self.stats.tx_sent += 1
            try:
                async with asyncio.timeout(self.args.call_timeout):
                    return await fut
            finally:
                self.pending.pop(msg_id, None)

    # -- transaction messages --
    def enqueue(self, action: str, payload: dict[str, Any], reg: int) -> Msg:
        m = Msg(action, payload, (self.id, action, str(reg)))
        self.outbox.append(m)
        self.stats.tx_generated += 1
        self.outbox_changed.set()
        return m

    async def sender(self) -> None:
        while True:
            while not self.outbox:
                self.outbox_changed.clear()
                await self.outbox_changed.wait()
            m = self.outbox[0]
            await self.ready.wait()
            m.attempts += 1
            try:
                kind, reply = await self.call(m.action, m.payload)
            except TimeoutError:
                self.stats.timeouts += 1
                continue  # resend at once: the timeout was the wait
            except ConnectionError:
                self.stats.conn_lost_in_flight += 1
                await asyncio.sleep(0.1)  # ready is cleared by the connection loop
                continue
            if kind == 3:
                self.acked[m.key] = m.attempts
                self.outbox.popleft()
                m.done.set_result(reply)
            else:
                self.stats.callerrors[f"{m.action} {reply}"] += 1
                await asyncio.sleep(self.args.retry_delay)

    def next_register(self) -> int:
        self.register += 10
        return self.register

    def meter_value(self, reg: int) -> list[dict[str, Any]]:
        return [{"timestamp": now_iso(), "sampledValue": [
            {"value": str(reg), "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register",
             "unit": "Wh"}]}]

    async def transactions(self) -> None:
        a = self.args
        await asyncio.sleep(self.rng.uniform(0, a.meter_interval))
        while not self.ending.is_set():
            reg = self.next_register()
            start = self.enqueue("StartTransaction", {"connectorId": 1, "idTag": self.id[-20:], "meterStart": reg,
                                                      "timestamp": now_iso()}, reg)
            reply = await start.done
            tx_id = reply["transactionId"]
            for _ in range(a.meters_per_tx):
                await asyncio.sleep(a.meter_interval)
                if self.ending.is_set():
                    return
                reg = self.next_register()
                self.enqueue("MeterValues", {"connectorId": 1, "transactionId": tx_id,
                                             "meterValue": self.meter_value(reg)}, reg)
            reg = self.next_register()
            stop = self.enqueue("StopTransaction", {"transactionId": tx_id, "meterStop": reg,
                                                    "timestamp": now_iso(), "reason": "Local"}, reg)
            await stop.done
            await asyncio.sleep(a.meter_interval)

    async def heartbeats(self) -> None:
        await asyncio.sleep(self.rng.uniform(0, self.args.heartbeat_interval))
        while True:
            await self.ready.wait()
            try:
                kind, _ = await self.call("Heartbeat", {})
                if kind == 3:
                    self.stats.heartbeats_ok += 1
                else:
                    self.stats.heartbeats_failed += 1
            except (TimeoutError, ConnectionError):
                self.stats.heartbeats_failed += 1
            await asyncio.sleep(self.args.heartbeat_interval)


# --- processes ---------------------------------------------------------------------------


async def start_csms(args: argparse.Namespace, workdir: Path, n: int) -> asyncio.subprocess.Process:
    with (workdir / f"csms-{n}.log").open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            PY, str(BENCH / "soak_csms.py"), "--port", str(args.csms_port), "--log", str(workdir / "received.tsv"),
            "--max-seconds", str(args.duration + args.drain + 300), cwd=REPO,
            stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out)
    await wait_tcp(args.csms_port, 30, proc)
    return proc


async def gateway_metrics(admin_port: int) -> dict[str, float]:
    wanted = ("gateway_csms_away", "gateway_upstream_reconnects", "gateway_upstream_connect_failures",
              "gateway_call_errors_total", "gateway_internal_errors_total")
    out: dict[str, float] = {}
    with contextlib.suppress(OSError, TimeoutError, aiohttp.ClientError):
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http, \
                http.get(f"http://127.0.0.1:{admin_port}/metrics") as resp:
            for line in (await resp.text()).splitlines():
                if line.startswith(wanted) and "_created" not in line:
                    name, _, value = line.rpartition(" ")
                    out[name] = float(value)
    return out


def slope_mib_per_min(samples: list[tuple[float, int]]) -> float | None:
    """Least-squares slope of RSS (KiB samples) over time, in MiB per minute."""
    if len(samples) < 2:
        return None
    n = len(samples)
    mt = sum(t for t, _ in samples) / n
    mr = sum(r for _, r in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    if var == 0:
        return None
    return sum((t - mt) * (r - mr) for t, r in samples) / var * 60 / 1024


# --- the run -------------------------------------------------------------------------------


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    upstream = "ocpp2.0.1" if args.translated else "ocpp1.6"
    args.csms_port, args.listen_port, admin_port = free_port(), free_port(), free_port()
    config = {
        "listen": {"host": "127.0.0.1", "port": args.listen_port},
        "upstream": {"url": f"ws://127.0.0.1:{args.csms_port}/ocpp", "dialect": upstream,
                     "offline_close_after": args.offline_close_after, "response_timeout": args.response_timeout,
                     "reconnect_initial_delay": 1.0, "reconnect_max_delay": args.backoff_max},
        "admin": {"host": "127.0.0.1", "port": admin_port},
        "state": {"path": str(workdir / "gateway-state.sqlite")},
    }
    (workdir / "gateway.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    csms = await start_csms(args, workdir, 0)
    gw_log = (workdir / "gateway.log").open("wb")
    gw_cmd = [PY, "-m", "gateway"]
    gw_env = None
    if args.mem_dir:  # bench-only entry point with memory checkpoints on SIGUSR1 (gateway_traced.py)
        Path(args.mem_dir).mkdir(parents=True, exist_ok=True)
        gw_cmd = [PY, str(BENCH / "gateway_traced.py")]
        gw_env = {**os.environ, "OCPP_SOAK_MEM_DIR": str(Path(args.mem_dir).resolve()),
                  "OCPP_SOAK_TRACEMALLOC": str(args.tracemalloc),
                  "OCPP_SOAK_MALLOC_TRIM": "1" if args.malloc_trim else "0"}
    gw = await asyncio.create_subprocess_exec(
        *gw_cmd, "run", "--config", str(workdir / "gateway.yaml"), cwd=REPO, env=gw_env,
        stdin=asyncio.subprocess.DEVNULL, stdout=gw_log, stderr=gw_log)
    checkpoints: list[str] = []
    checkpoint_lock = asyncio.Lock()

    async def checkpoint(label: str) -> None:
        """SIGUSR1 to gateway_traced.py; waits until it has written checkpoint-NN.json (it blocks meanwhile)."""
        if not args.mem_dir:
            return
        async with checkpoint_lock:
            await _checkpoint(label)

    async def _checkpoint(label: str) -> None:
        n = len(checkpoints) + 1
        target = Path(args.mem_dir) / f"checkpoint-{n:02d}.json"
        gw.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 120
        while not target.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        checkpoints.append(f"{n:02d} {label} t={time.monotonic() - t0:.0f}s")
        log(f"memory checkpoint {checkpoints[-1]}")

    async def periodic_checkpoints() -> None:
        while True:
            await asyncio.sleep(args.checkpoint_every)
            await checkpoint("periodic")

    tasks: list[asyncio.Task[None]] = []
    rss: list[dict[str, Any]] = []
    events: list[str] = []
    stats = Stats()
    ending = asyncio.Event()
    chargers = [Charger(i, args, stats, ending) for i in range(args.chargers)]
    try:
        await wait_health(admin_port, "/healthz", 30, gw)
        t0 = time.monotonic()
        cpu0 = cpu_seconds(gw.pid)
        log(f"gateway pid {gw.pid} ready, RSS {rss_kib(gw.pid) / 1024:.1f} MiB; starting {args.chargers} chargers")
        await checkpoint("before chargers (tracemalloc starts here)")
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        csms_up = True

        async def sampler() -> None:
            while True:
                t = time.monotonic() - t0
                rss.append({"t": round(t, 1), "rss_kib": rss_kib(gw.pid), "csms_up": csms_up,
                            "connected": sum(c.ready.is_set() for c in chargers),
                            "outbox": sum(len(c.outbox) for c in chargers)})
                await asyncio.sleep(args.rss_interval)

        tasks.append(asyncio.create_task(sampler()))
        if args.mem_dir and args.checkpoint_every:
            tasks.append(asyncio.create_task(periodic_checkpoints()))
        for i, c in enumerate(chargers):
            tasks += [asyncio.create_task(c.connection_loop(session)), asyncio.create_task(c.sender()),
                      asyncio.create_task(c.transactions()), asyncio.create_task(c.heartbeats())]
            if i % 50 == 49:
                await asyncio.sleep(args.ramp / max(1, args.chargers / 50))
        await asyncio.sleep(max(0.0, args.ramp + 15 - (time.monotonic() - t0)))
        await checkpoint("after ramp-up")
        for k in range(1, args.restarts + 1):
            at = args.duration * k / (args.restarts + 1)
            await asyncio.sleep(max(0.0, at - 8 - (time.monotonic() - t0)))
            await checkpoint(f"before crash {k}")
            await asyncio.sleep(max(0.0, at - (time.monotonic() - t0)))
            csms.kill()  # SIGKILL: a crash, no Close frames
            await csms.wait()
            csms_up = False
            events.append(f"t={time.monotonic() - t0:.0f}s CSMS killed")
            log(events[-1])
            await asyncio.sleep(args.down)
            csms = await start_csms(args, workdir, k)
            csms_up = True
            events.append(f"t={time.monotonic() - t0:.0f}s CSMS restarted")
            log(events[-1])
        while (el := time.monotonic() - t0) < args.duration:
            await asyncio.sleep(min(30.0, args.duration - el))
            log(f"t={time.monotonic() - t0:.0f}s RSS {rss[-1]['rss_kib'] / 1024:.1f} MiB, "
                f"acked {sum(len(c.acked) for c in chargers)}, connected {rss[-1]['connected']}")
        await checkpoint("end of traffic")
        ending.set()
        events.append(f"t={time.monotonic() - t0:.0f}s stop generating; draining outboxes")
        log(events[-1])
        drain_deadline = time.monotonic() + args.drain
        while time.monotonic() < drain_deadline and any(c.outbox for c in chargers):
            await asyncio.sleep(1)
        events.append(f"t={time.monotonic() - t0:.0f}s drained, {sum(len(c.outbox) for c in chargers)} left")
        log(events[-1])
        rss.append({"t": round(time.monotonic() - t0, 1), "rss_kib": rss_kib(gw.pid), "csms_up": True,
                    "connected": sum(c.ready.is_set() for c in chargers), "outbox": 0})
        gw_cpu = cpu_seconds(gw.pid) - cpu0
        metrics = await gateway_metrics(admin_port)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        tasks.clear()
        await asyncio.gather(*(c.ws.close() for c in chargers if c.ws is not None), return_exceptions=True)
        await session.close()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await stop(gw, grace=10.0)
        gw_log.close()
        await stop(csms, grace=10.0)
    received, kinds = read_csms_log(workdir / "received.tsv", upstream)
    acked: dict[Key, int] = {}
    unacked: set[Key] = set()
    for c in chargers:
        acked.update(c.acked)
        unacked.update(m.key for m in c.outbox)
    result = account(acked, received, unacked)
    lost_examples = [k for k in acked if received[k] == 0][:10]
    return {
        "chargers": args.chargers, "duration_s": args.duration, "restarts": args.restarts, "down_s": args.down,
        "upstream": upstream, "offline_close_after": args.offline_close_after,
        "response_timeout": args.response_timeout, "ramp_s": args.ramp, "events": events, "accounting": result,
        "lost_examples": [list(k) for k in lost_examples],
        "by_action_acked": dict(collections.Counter(k[1] for k in acked)),
        "csms_received": dict(kinds),
        "charger": {"connects": stats.connects, "connect_failures": stats.connect_failures,
                    "closes": dict(stats.closes), "boots": stats.boots, "tx_generated": stats.tx_generated,
                    "tx_sent": stats.tx_sent, "callerrors": dict(stats.callerrors), "timeouts": stats.timeouts,
                    "conn_lost_in_flight": stats.conn_lost_in_flight, "heartbeats_ok": stats.heartbeats_ok,
                    "heartbeats_failed": stats.heartbeats_failed},
        "memory_checkpoints": checkpoints, "gateway_cpu_s": round(gw_cpu, 1), "gateway_metrics": metrics, "rss": rss,
        "rss_slope_mib_per_min": slope_mib_per_min([(s["t"], s["rss_kib"]) for s in rss if s["t"] >= args.ramp]),
    }


def report(r: dict[str, Any]) -> str:
    a, ch = r["accounting"], r["charger"]
    rss = r["rss"]
    mid = rss[len(rss) // 2]
    mib = [s["rss_kib"] / 1024 for s in rss]
    ramped = next((s["rss_kib"] / 1024 for s in rss if s["t"] >= r["ramp_s"]), mib[-1])
    slope = r["rss_slope_mib_per_min"]
    lines = [
        f"{r['chargers']} chargers, {r['duration_s']:.0f} s, ocpp1.6 -> gateway -> {r['upstream']}, "
        f"{r['restarts']} CSMS crashes (SIGKILL) down {r['down_s']:.0f} s each; "
        f"offline_close_after {r['offline_close_after']:g} s, response_timeout {r['response_timeout']:g} s",
        "",
        "| metric | value |",
        "|---|---|",
        f"| transaction messages acknowledged to chargers | {a['acknowledged']} |",
        f"| **lost** (acknowledged, never received by the CSMS) | **{a['lost']}** |",
        f"| duplicates received by the CSMS (extra copies / messages affected) | "
        f"{a['duplicates']} / {a['duplicated_messages']} |",
        f"| retried until delivered (messages / total attempts) | {a['retried']} / {a['attempts']} |",
        f"| still unacknowledged at the end (of which received) | {a['unacknowledged_at_end']} "
        f"({a['unacknowledged_but_received']}) |",
        f"| received but never generated | {a['received_never_sent']} |",
        f"| acknowledged per action | {', '.join(f'{k} {v}' for k, v in sorted(r['by_action_acked'].items()))} |",
        f"| CSMS received per kind | {', '.join(f'{k} {v}' for k, v in sorted(r['csms_received'].items()))} |",
        f"| heartbeats answered / failed | {ch['heartbeats_ok']} / {ch['heartbeats_failed']} |",
        f"| CALLERRORs to transaction messages | {sum(ch['callerrors'].values())} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(ch['callerrors'].items()))}) |",
        f"| call timeouts / connection lost with a call in flight | {ch['timeouts']} / {ch['conn_lost_in_flight']} |",
        f"| charger connects / failed connects | {ch['connects']} / {ch['connect_failures']} |",
        f"| closes seen by chargers, by code | {', '.join(f'{k}: {v}' for k, v in sorted(ch['closes'].items()))} |",
        f"| gateway RSS before chargers / after ramp-up / mid / end MiB | {mib[0]:.1f} / {ramped:.1f} / "
        f"{mid['rss_kib'] / 1024:.1f} / {mib[-1]:.1f} (max {max(mib):.1f}) |",
        f"| gateway RSS slope (least squares after ramp-up) | "
        f"{'n/a' if slope is None else f'{slope:+.3f} MiB/min'} |",
        f"| gateway CPU s (whole run) | {r['gateway_cpu_s']} |",
        "",
        "Events: " + "; ".join(r["events"]),
        *(["", "Memory checkpoints: " + "; ".join(r["memory_checkpoints"])] if r["memory_checkpoints"] else []),
        "",
        "Gateway metrics at the end: " + ", ".join(f"`{k}` {v:g}" for k, v in sorted(r["gateway_metrics"].items())),
        "",
        "RSS samples (t s: MiB, CSMS up, chargers connected, outbox): "
        + "; ".join(f"{s['t']:.0f}: {s['rss_kib'] / 1024:.1f}{'' if s['csms_up'] else ' down'}"
                    f" {s['connected']} {s['outbox']}" for s in rss),
    ]
    if r["lost_examples"]:
        lines += ["", f"Lost examples: {r['lost_examples']}"]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chargers", type=int, default=1000)
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of traffic (default 600)")
    ap.add_argument("--restarts", type=int, default=2, help="CSMS crashes, evenly spread (default 2)")
    ap.add_argument("--down", type=float, default=20.0, help="seconds the CSMS stays down each time")
    ap.add_argument("--translated", action="store_true", help="upstream ocpp2.0.1 (1.6 -> 2.0.1 translation)")
    ap.add_argument("--offline-close-after", type=float, default=10.0, help="gateway upstream.offline_close_after")
    ap.add_argument("--response-timeout", type=float, default=30.0, help="gateway upstream.response_timeout")
    ap.add_argument("--meter-interval", type=float, default=5.0)
    ap.add_argument("--meters-per-tx", type=int, default=6)
    ap.add_argument("--heartbeat-interval", type=float, default=30.0)
    ap.add_argument("--call-timeout", type=float, default=40.0, help="charger: resend after this long unanswered")
    ap.add_argument("--retry-delay", type=float, default=2.0, help="charger: resend after a CALLERROR")
    ap.add_argument("--backoff-initial", type=float, default=1.0)
    ap.add_argument("--backoff-max", type=float, default=10.0)
    ap.add_argument("--ramp", type=float, default=20.0, help="seconds to start all chargers")
    ap.add_argument("--drain", type=float, default=90.0, help="max seconds for outboxes to empty at the end")
    ap.add_argument("--rss-interval", type=float, default=10.0)
    ap.add_argument("--json-out", default=None)
    ap.add_argument("--mem-dir", default=None,
                    help="run the gateway via bench/gateway_traced.py and write memory checkpoints here (before "
                         "the chargers, after ramp-up, 8 s before each crash, at the end); compare them with "
                         "bench/memdiff.py")
    ap.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                    help="with --mem-dir: trace allocations with this many frames and dump a snapshot per checkpoint")
    ap.add_argument("--checkpoint-every", type=float, default=0.0, metavar="S",
                    help="with --mem-dir: also a checkpoint every S seconds")
    ap.add_argument("--malloc-trim", action="store_true",
                    help="with --mem-dir: malloc_trim(0) after each checkpoint, recording the RSS after it")
    ap.add_argument("--keep-logs", action="store_true", help="keep gateway/CSMS logs and the CSMS record")
    args = ap.parse_args()
    limit = raise_nofile_limit()  # inherited by the gateway and the CSMS
    if limit < 2 * args.chargers + 256:
        log(f"warning: RLIMIT_NOFILE hard limit {limit} < {2 * args.chargers + 256}")
    workdir = Path(tempfile.mkdtemp(prefix="ocpp-soak-"))
    log(f"workdir {workdir}")
    try:
        r = asyncio.run(run(args, workdir))
    finally:
        if not args.keep_logs:
            for p in workdir.iterdir():
                p.unlink()
            workdir.rmdir()
    print(report(r))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(r, indent=1))
    return 0 if r["accounting"]["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
