"""Upstream C lwIP's PPPoS (``../shared/peers/lwip-ppp``: ``lwip_pppd``) as the peer of lwipy's PPP on a pty.

:func:`peer_binary` builds it on demand with the peer's own ``build.sh`` into a cache directory outside the
repository (``$XDG_CACHE_HOME/lwipy/lwip-ppp-HASH``, HASH from the sources' path, else ``~/.cache/...``;
``LWIP_PPP_BUILD`` overrides), afresh when a build there fails; where ``../shared`` is absent the tests skip,
except under ``CI=true`` where they fail.  :class:`Peer` runs it on the slave side of a fresh pty and reads its
one-line-per-event stdout; :class:`LwipEnd` runs a lwipy stack with a PPPoS netif on the master side, on a
:class:`~lwipy.api.loop.StackLoop` thread.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import tty
from pathlib import Path
from typing import Any, Callable

import pytest

from lwipy import Config, Stack
from lwipy.api.loop import StackLoop
from lwipy.netif.pppos import PtySerial, pppos_create
from lwipy.ppp import PppSettings, PppStatus

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "peers" / "lwip-ppp"
GENEROUS = 60.0
_built: list[str] = []
PPP_CONFIG = Config(ppp_support=True, ppp_server_support=True, ppp_pap_support=True, ppp_chap_support=True)
_lock = threading.Lock()


def peer_binary() -> str:
    """The path of ``lwip_pppd``, built if needed (skip, or under CI=true fail, when the peer is absent)."""
    with _lock:
        if _built:
            return _built[0]
        if not (SHARED / "build.sh").is_file():
            message = f"the C lwIP PPP peer is absent ({SHARED})"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"CI=true but {message}", pytrace=False)
            pytest.skip(message)
        # one build directory per copy of the peer's sources: make's dependency files name them by absolute path,
        # so a directory built from another checkout's copy (another CI workspace) fails with "No rule to make"
        own = hashlib.sha1(str(SHARED.resolve()).encode()).hexdigest()[:8]
        cache = os.environ.get("LWIP_PPP_BUILD") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lwipy", f"lwip-ppp-{own}")
        os.makedirs(cache, exist_ok=True)
        done = subprocess.run(["sh", str(SHARED / "build.sh"), cache], capture_output=True, text=True, timeout=600)
        if done.returncode != 0 and not os.environ.get("LWIP_PPP_BUILD"):  # a stale or broken build of ours: afresh
            shutil.rmtree(cache, ignore_errors=True)
            os.makedirs(cache)
            done = subprocess.run(["sh", str(SHARED / "build.sh"), cache], capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.fail(f"building lwip_pppd failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}", pytrace=False)
        binary = done.stdout.strip().splitlines()[-1]
        assert os.access(binary, os.X_OK), binary
        _built.append(binary)
        return binary


def parse_line(line: str) -> tuple[str, dict[str, str]]:
    kind, _, rest = line.strip().partition(" ")
    fields = dict(item.partition("=")[::2] for item in rest.split() if "=" in item)
    return kind, fields


class Peer:
    """``lwip_pppd --fd N ARGS`` on the slave of a new pty; :attr:`master` is for lwipy."""

    def __init__(self, args: list[str], swap: bool = False) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)  # raw before anything is written (the peer's README)
        tty.setraw(self.master)
        if swap:  # the peer takes the master side; ours is the slave, with a path (:attr:`path`)
            self.master, slave = slave, self.master
        self.path = f"/proc/self/fd/{self.master}"
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([peer_binary(), "--fd", str(slave), *args], pass_fds=(slave,),
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        os.close(slave)
        self.lines: list[tuple[str, dict[str, str]]] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(parse_line(line))
                self._cond.notify_all()
        with self._cond:
            self.lines.append(("EOF", {}))
            self._cond.notify_all()

    def wait(self, kind: str, timeout: float = GENEROUS, **match: str) -> dict[str, str]:
        """The first stdout line of ``kind`` whose fields include ``match``; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for k, fields in self.lines:
                    if k == kind and all(fields.get(f) == v for f, v in match.items()):
                        return fields
                if ("EOF", {}) in self.lines:
                    raise AssertionError(f"lwip_pppd ended without a {kind} line: {self.lines} {self.errors()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {kind} {match} line within {timeout} s: {self.lines}")
                self._cond.wait(left)

    def all(self, kind: str) -> list[dict[str, str]]:
        with self._cond:
            return [f for k, f in self.lines if k == kind]

    def errors(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-2000:]

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def exit_code(self, timeout: float = GENEROUS) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)
        self.stderr.close()
        try:
            os.close(self.master)
        except OSError:
            pass


class LwipEnd:
    """A lwipy stack whose PPPoS netif runs on ``master`` (a pty's master side, or a serial object)."""

    def __init__(self, master: int | Any, settings: PppSettings, config: Config | None = None) -> None:
        self.stack = Stack(config or PPP_CONFIG, seed=11)
        self.loop = StackLoop(self.stack)
        self.statuses: list[str] = []
        self._cond = threading.Condition()

        def setup() -> Any:
            self.stack.events.subscribe(PppStatus, self._status)
            serial = PtySerial(master, own=False) if isinstance(master, int) else master
            return pppos_create(self.stack, serial, settings)
        self.loop.start()
        self.netif, self.device = self.loop.call(setup)
        self.pcb = self.device.pcb

    def _status(self, event: PppStatus) -> None:
        with self._cond:
            self.statuses.append(event.name)
            self._cond.notify_all()

    def call(self, fn: Callable[[], Any]) -> Any:
        return self.loop.call(fn, GENEROUS)

    def wait_status(self, name: str, timeout: float = GENEROUS) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while name not in self.statuses:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no PPP status {name!r} within {timeout} s: {self.statuses}, {self.pcb}")
                self._cond.wait(left)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = GENEROUS, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not self.call(predicate):
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not happen within {timeout} s ({self.pcb})")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.loop.running:
            self.loop.stop(30)
        self.loop.close()
        self.device.close()
