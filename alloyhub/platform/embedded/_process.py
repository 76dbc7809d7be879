"""Small helpers shared by the embedded services: ports that survive a
restart, child processes that die with their parent, and leftovers of a run
that crashed."""
from __future__ import annotations

import ctypes
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

HOST = "127.0.0.1"


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # The servers set SO_REUSEADDR too, so a port in TIME_WAIT counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class PortBook:
    """Ports remembered in var/ports.json, so the URLs stay the same from one
    run to the next. A remembered port that something else now holds is
    replaced by a free one rather than blocking the start."""

    def __init__(self, path: Path):
        self.path = path

    def _read(self) -> dict[str, int]:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def port_for(self, name: str) -> int:
        ports = self._read()
        port = ports.get(name)
        if not isinstance(port, int) or not port_is_free(port):
            port = free_port()
            ports[name] = port
            self.path.write_text(json.dumps(ports, indent=2, sort_keys=True) + "\n")
        return port


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None, host: str = HOST) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with status {proc.returncode} before listening on {port}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def _die_with_parent(sig: int):
    def preexec() -> None:  # pragma: no cover - runs in the child between fork and exec
        # If `alloyhub up` is killed outright (SIGKILL, OOM) its children get
        # `sig` instead of lingering. Linux only; elsewhere leftovers are
        # cleaned up by the next start. This runs after Popen's `user=`
        # switch: a server that dropped privileges itself would lose the
        # setting. It follows the *thread* that forked, so children are
        # started from the main thread.
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None, use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG

    return preexec


def spawn(args: list[str], *, log_path: Path | None = None, death_signal: int = signal.SIGTERM,
          **kwargs) -> subprocess.Popen:
    """Start a child in its own session: Ctrl-C in the terminal reaches only
    `alloyhub up`, which then stops everything in order (children before the
    services they use)."""
    out = open(log_path, "ab") if log_path else None  # noqa: SIM115 - the child keeps it open
    try:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT if out else None,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=_die_with_parent(death_signal), **kwargs)
    finally:
        if out:
            out.close()


def stop_process(proc: psutil.Process | subprocess.Popen, timeout: float = 20.0,
                 sig: int | None = signal.SIGTERM) -> None:
    """Ask politely (`sig`; None when already asked: a second SIGTERM makes an
    RQ worker abandon its job), then insist."""
    pid = proc.pid
    try:
        p = proc if isinstance(proc, psutil.Process) else psutil.Process(pid)
        if sig is not None:
            p.send_signal(sig)
        p.wait(timeout)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        try:
            p.kill()
            p.wait(5)
        except psutil.NoSuchProcess:
            pass
    if isinstance(proc, subprocess.Popen):
        try:
            proc.wait(1)  # reap it, so no zombie is left behind
        except subprocess.TimeoutExpired:
            pass


def leftover(pid_file: Path, executable: str, mentions: str | None = None) -> psutil.Process | None:
    """The process a previous run left behind, if the pid file names a live
    process of this executable (whose command line mentions `mentions`); a
    stale pid file (the pid now belongs to something else, or to nothing) is
    removed."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    try:
        proc = psutil.Process(pid)
        ours = Path(proc.exe()).name == Path(executable).name and proc.status() != psutil.STATUS_ZOMBIE
        if ours and mentions is not None:
            ours = mentions in " ".join(proc.cmdline())
        if ours:
            return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        pass
    pid_file.unlink(missing_ok=True)
    return None


def write_pid(pid_file: Path, pid: int) -> None:
    pid_file.write_text(f"{pid}\n")


def run_as_user(name: str) -> pwd.struct_passwd | None:
    """Servers refuse to run as root (PostgreSQL) or should not (Mosquitto):
    when we are root they run as their own system user, else as us."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                       check=True, capture_output=True)
        return pwd.getpwnam(name)


def as_user(account: pwd.struct_passwd | None) -> dict:
    """Popen arguments to run a child as `account`: its group too, and none of
    ours, or root's group would decide what it may open."""
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, gid)


def make_traversable(path: Path) -> None:
    """Let another user pass through the parents of `path` (execute bit only,
    no listing), which a server running as that user needs to reach its data."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
