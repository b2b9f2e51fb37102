"""Fixtures of the browser tests: a streamlit server on a free port (one per test module)
and Debian's Chromium through Playwright. Skipped where Chromium is missing, except under
CI=true, where skipping is a failure."""

import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# WebGL (the 3D view) in software: headless Chromium without a GPU needs SwiftShader allowed.
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-background-networking", "--no-first-run",
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]  # fmt: skip


def _need_browser():
    have = os.path.exists(CHROMIUM)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        have = False
    if not have:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but Chromium/Playwright is missing: .ci/run must install them")
        pytest.skip("needs Debian's chromium and the playwright package")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(log_name: str, timeout_s: float = 240):
    """A streamlit server of the app on a free port: (url, process, open log file). Its
    output goes to a file, not a pipe nobody reads (a full pipe would block the server)."""
    port = _free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
        "--server.port", str(port), "--server.address", "127.0.0.1",
    ]  # fmt: skip
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / log_name
    log = open(log_path, "w")  # noqa: SIM115 (closed by the caller)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                return url, proc, log
        except OSError:
            time.sleep(0.5)
    proc.kill()
    log.close()
    pytest.fail("streamlit did not become healthy: " + log_path.read_text()[-2000:])


def stop_server(proc, log) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:  # busy sessions may outlast a polite stop
        proc.kill()
        proc.wait(timeout=20)
    log.close()


@pytest.fixture(scope="module")
def server(request):
    _need_browser()
    url, proc, log = start_server(f"streamlit-{request.module.__name__}.log")
    yield url, proc
    stop_server(proc, log)


@pytest.fixture(scope="module")
def browser():
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()
