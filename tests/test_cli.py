"""`ocpp-gateway check` and `run` as an operator uses them: subprocesses, exit codes, one-line reasons."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, free_port, wait_healthy, write_config
from tests.peers import Csms, connect_charger


async def _gateway_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *args, cwd=REPO, env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_check_accepts_the_example_config() -> None:
    """The shipped config.example.yaml passes `check`."""
    code, out, err = await _gateway_cli("check", "--config", "config.example.yaml")
    assert (code, err) == (0, "")
    assert out.strip() == "config.example.yaml: ok"


def _bad(tmp_path: Path, **overrides: object) -> Path:
    return write_config(tmp_path, "ws://127.0.0.1:1/ocpp", "ocpp1.6", **overrides)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"upstream": {"dialect": "ocpp2"}}, "upstream.dialect: expected ocpp1.6 or ocpp2.0.1, got 'ocpp2'"),
        ({"upstream": {"url": "http://csms/ocpp"}}, "upstream.url: expected a ws:// or wss:// URL"),
        ({"listen": {"port": 70000}}, "listen.port: expected a TCP port 0-65535, got 70000"),
        ({"listen": {"prot": 9000}}, "listen.prot: unknown key"),
        ({"surprise": 1}, "surprise: unknown key"),
        ({"chargers": {"CB1": {"password": "${NOT_SET_ANYWHERE}"}}},
         "chargers.CB1.password: environment variable NOT_SET_ANYWHERE is not set"),
        ({"chargers": {"CB/1": {}}}, "chargers.CB/1: not a valid charge box id"),
        ({"limits": {"max_queued_calls": "many"}}, "limits.max_queued_calls: expected an integer, got a string"),
        ({"chargers": {"CB1": {"topology": [[1, 1], [1, 1]]}}},
         "chargers.CB1.topology: an (evseId, connectorId) pair appears twice"),
        ({"translation": {"id_token_default_type": "RFID"}},
         "translation.id_token_default_type: expected Central or eMAID or ISO14443"),
    ],
)
async def test_check_names_file_key_and_problem(tmp_path: Path, overrides: dict[str, object], reason: str) -> None:
    """`check` exits 2 with one line naming the file, the key and the problem."""
    path = _bad(tmp_path, **overrides)
    code, out, err = await _gateway_cli("check", "--config", str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"{path}: {reason}"), err


async def test_check_reports_unreadable_yaml(tmp_path: Path) -> None:
    """A file that is not YAML is reported with its line, exit 2."""
    path = tmp_path / "broken.yaml"
    path.write_text("listen: {host: [\n")
    code, _, err = await _gateway_cli("check", "--config", str(path))
    assert code == 2 and err.startswith(f"{path}: line ") and "not valid YAML" in err


async def test_check_expands_secrets_from_the_environment(tmp_path: Path) -> None:
    """A `${VAR}` that is set makes the config valid."""
    path = _bad(tmp_path, chargers={"CB1": {"password": "${CB1_SECRET}"}})
    code, _, _ = await _gateway_cli("check", "--config", str(path), env={"CB1_SECRET": "s3cret"})
    assert code == 0


@pytest.mark.timeout(30)
async def test_sigterm_closes_chargers_with_1001_and_exits_cleanly(tmp_path: Path, csms: Csms) -> None:
    """On SIGTERM the gateway closes chargers with 1001, closes upstreams, and exits 0 within 5 s."""
    config = yaml.safe_load(write_config(tmp_path, csms.url, "ocpp1.6").read_text())
    config["listen"]["port"] = free_port()
    config["admin"]["port"] = free_port()
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "run", "--config", str(path), cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_healthy(config["admin"]["port"])
        charger = await connect_charger(f"ws://127.0.0.1:{config['listen']['port']}/ocpp", "CB1", "ocpp1.6")
        link = await csms.next_connection()
        loop = asyncio.get_running_loop()
        started = loop.time()
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(charger.ws.wait_closed(), 5)
        await asyncio.wait_for(link.closed.wait(), 5)
        code = await asyncio.wait_for(process.wait(), 5)
        assert loop.time() - started < 5
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stderr = (await process.stderr.read()).decode() if process.stderr else ""
    assert code == 0, stderr
    assert charger.ws.close_code == 1001
    assert "closing 1 charger connections" in stderr and "stopped" in stderr


@pytest.mark.timeout(40)
async def test_a_second_gateway_on_the_same_state_file_exits_with_one_line_and_the_first_carries_on(
    tmp_path: Path, csms: Csms,
) -> None:
    """Two gateways must not share a state file: the second one stops at start (after waiting 10 s for it)."""
    configs = []
    for name in ("first", "second"):
        config = yaml.safe_load(write_config(tmp_path, csms.url, "ocpp1.6").read_text())
        config["listen"]["port"] = free_port()
        config["admin"]["port"] = free_port()
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        configs.append((path, config))
    first = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "run", "--config", str(configs[0][0]), cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_healthy(configs[0][1]["admin"]["port"])

        code, _, err = await _gateway_cli("run", "--config", str(configs[1][0]))

        assert code == 1
        errors = [line for line in err.splitlines() if " ERROR " in line]
        assert len(errors) == 1, err
        assert f"{configs[0][1]['state']['path']}: the state file is in use by another process" in errors[0]
        assert err.count(" stopped") == 1, err
        charger = await connect_charger(f"ws://127.0.0.1:{configs[0][1]['listen']['port']}/ocpp", "CB1", "ocpp1.6")
        await csms.next_connection()
        await charger.ws.close()
    finally:
        first.terminate()
        await first.wait()
