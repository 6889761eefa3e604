"""Start graphmill, create a user with an API key, drive cognee's real clients against it
(scripts/cognee_clients_driver.py in the cognee venv) and print a table of calls and results.

Run through `scripts/check-cognee-clients`; exits non-zero when any call failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from demo import free_port, wait_healthy  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cognee-python", required=True, help="Python of the cognee venv")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="graphmill-cognee-check-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "GRAPHMILL_DATA_DIR": str(data_dir),
        "HF_HUB_OFFLINE": "1",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "graphmill.cli", "serve", "--port", str(port)], env=env
    )
    try:
        wait_healthy(url, server, time.monotonic())
        password = "check cognee clients"
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "graphmill.cli",
                "create-user",
                "--email",
                "cognee-check@example.com",
                "--api-key",
                "cognee-check",
            ],
            input=password + "\n",
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        api_key = dict(line.split(": ", 1) for line in created.stdout.splitlines())["api_key"]
        token = httpx.post(
            f"{url}/api/v1/auth/login",
            data={"username": "cognee-check@example.com", "password": password},
        ).json()["access_token"]
        driver_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        driver_env |= {
            "TELEMETRY_DISABLED": "1",
            "HF_HUB_OFFLINE": "1",
        }
        started = time.monotonic()
        done = subprocess.run(
            [
                args.cognee_python,
                str(ROOT / "scripts" / "cognee_clients_driver.py"),
                "--url",
                url,
                "--api-key",
                api_key,
                "--token",
                token,
            ],
            capture_output=True,
            text=True,
            env=driver_env,
            cwd=data_dir,
            timeout=1800,
        )
        rows = []
        for line in done.stdout.splitlines():
            if line.startswith("{"):
                rows.append(json.loads(line))
        if done.returncode != 0:
            rows.append(
                {
                    "client": "driver",
                    "call": "exit",
                    "ok": False,
                    "detail": done.stderr.strip()[-300:],
                }
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"cognee 1.6.5 clients against graphmill ({time.monotonic() - started:.0f} s)\n")
    print("| client | call | result | detail |")
    print("|---|---|---|---|")
    for row in rows:
        detail = row["detail"].replace("|", "\\|")
        print(f"| {row['client']} | {row['call']} | {'ok' if row['ok'] else 'FAILED'} | {detail} |")
    failed = [r for r in rows if not r["ok"]]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} calls ok")
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
