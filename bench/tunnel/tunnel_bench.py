#!/usr/bin/env python3
"""Tunnel benchmark: the embedded libssh2 worker (`pvectl-tunnel tunnel`) against the classic
`autossh -M 0` + OpenSSH `ssh -N -R`, side by side in one run, on loopback only.

Everything runs on 127.0.0.1 in a temporary directory: a "VPS" sshd (one listen port per tunnel
slot), a "VPS" nginx with `upstream home { primary; backup backup; }`, two "home" nginx backends,
an upload sink, and the tunnels. Results go to stdout as one JSON document; progress to stderr.
Only processes this script started are ever signalled (the script makes itself a child subreaper,
so sshd's session processes stay its descendants), and the only firewall change is its own
nftables table `inet pvtbench_<pid>` that matches loopback traffic only.

See bench/README.md ("Tunnel worker vs autossh + OpenSSH") for the figures and targets.
Standard library only (Python >= 3.9).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import pwd
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback

T_START = time.monotonic()
ALL_SCENARIOS = ["bulk", "wrk", "kill", "drop", "restart", "memory", "concurrency"]
NFT_TABLE = f"pvtbench_{os.getpid()}"
DEFAULT_WORKER = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "pvectl-tunnel"))


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T_START:7.1f}s] {msg}", file=sys.stderr, flush=True)


class SetupError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# /proc helpers
# ---------------------------------------------------------------------------------------------

def proc_stat(pid: int):
    """(state, ppid, utime+stime ticks) or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[11]) + int(rest[12])


def proc_comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def children_map() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st:
            out.setdefault(st[1], []).append(int(name))
    return out


def descendants(pid: int, cmap=None) -> list[int]:
    cmap = cmap if cmap is not None else children_map()
    out, todo = [], [pid]
    while todo:
        for c in cmap.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def alive(pid: int) -> bool:
    st = proc_stat(pid)
    return st is not None and st[0] != "Z"


def socket_inodes(pid: int) -> set[int]:
    out = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                out.add(int(link[8:-1]))
    except OSError:
        pass
    return out


def tcp_table() -> list[tuple[int, int, str, int]]:
    """IPv4 TCP sockets: (local_port, remote_port, state_hex, inode)."""
    out = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            p = line.split()
            out.append((int(p[1].split(":")[1], 16), int(p[2].split(":")[1], 16), p[3], int(p[9])))
    return out


def tcp_conns_of(pid: int, table=None):
    inodes = socket_inodes(pid)
    return [t for t in (table or tcp_table()) if t[3] in inodes]


def smaps_rollup(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                p = line.split()
                if len(p) >= 3 and p[2] == "kB":
                    out[p[0].rstrip(":")] = int(p[1])
    except OSError:
        pass
    return out


def set_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except Exception:
        return False


def raise_nofile(want: int = 65536) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want and os.geteuid() == 0:
        try:
            with open("/proc/sys/fs/nr_open") as f:
                nr_open = int(f.read())
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, nr_open), min(want, nr_open)))
        except (OSError, ValueError):
            pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard == resource.RLIM_INFINITY or hard < want else want
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---------------------------------------------------------------------------------------------
# small HTTP helpers
# ---------------------------------------------------------------------------------------------

def http_get(port: int, path: str, timeout: float = 1.0):
    """GET over a fresh connection; returns (status, body). Raises OSError/TimeoutError/ValueError."""
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        buf = bytearray()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("read timeout")
            s.settimeout(left)
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    head, _, body = bytes(buf).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        raise ValueError(f"bad response {bytes(buf[:40])!r}")
    return int(head.split(b" ", 2)[1]), body


def try_get(port: int, path: str, timeout: float = 1.0):
    try:
        st, body = http_get(port, path, timeout)
        return st, body.decode(errors="replace").strip()
    except (OSError, ValueError) as e:
        return None, type(e).__name__


def port_open(port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


class Ports:
    def __init__(self):
        self.used: set[int] = set()

    def get(self) -> int:
        while True:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                p = s.getsockname()[1]
            if p not in self.used:
                self.used.add(p)
                return p


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


# ---------------------------------------------------------------------------------------------
# upload sink (hidden sub-command: `tunnel_bench.py _sink PORT`)
# ---------------------------------------------------------------------------------------------

def run_sink(port: int) -> None:
    import socketserver

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            sock = self.request
            buf = bytearray(4 << 20)
            view = memoryview(buf)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                head += chunk
            head, _, rest = head.partition(b"\r\n\r\n")
            headers = {}
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                headers[k.strip().lower()] = v.strip()
            received = len(rest)
            if b"content-length" in headers:
                want = int(headers[b"content-length"])
                while received < want:
                    n = sock.recv_into(view, min(len(buf), want - received))
                    if not n:
                        return
                    received += n
            elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                data = bytearray(rest)
                received = 0
                while True:  # simple chunked decoder (only used if a proxy re-chunks)
                    while b"\r\n" not in data:
                        n = sock.recv_into(view)
                        if not n:
                            return
                        data += view[:n]
                    line, _, data = bytes(data).partition(b"\r\n")
                    size = int(line.split(b";")[0], 16)
                    data = bytearray(data)
                    while len(data) < size + 2:
                        n = sock.recv_into(view)
                        if not n:
                            return
                        data += view[:n]
                    received += size
                    data = data[size + 2:]
                    if size == 0:
                        break
            sock.sendall(b"HTTP/1.1 204 No Content\r\nX-Received: %d\r\nConnection: close\r\n\r\n"
                         % received)

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True
        request_queue_size = 128

    with Server(("127.0.0.1", port), Handler) as srv:
        srv.serve_forever()


# ---------------------------------------------------------------------------------------------
# the environment: temp dir, processes, sshd, nginx
# ---------------------------------------------------------------------------------------------

class Env:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="pvtbench-")
        os.chmod(self.tmp, 0o700)
        self.logdir = os.path.join(self.tmp, "logs")
        os.makedirs(self.logdir)
        self.ports = Ports()
        self.procs: dict[int, subprocess.Popen] = {}
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        self.nft_active = False
        self.sshd: subprocess.Popen | None = None
        self.vps_nginx: subprocess.Popen | None = None
        self.slots = 4
        self.sshd_ports = [self.ports.get() for _ in range(self.slots)]
        self.remote_ports = [self.ports.get() for _ in range(self.slots)]
        self.backend_ports = [self.ports.get(), self.ports.get()]
        self.sink_port = self.ports.get()
        # VPS nginx: one front port per primary choice, plus a direct (no tunnel) reference
        self.vps_ports = {"slot0": self.ports.get(), "slot1": self.ports.get(),
                          "direct": self.ports.get()}
        self.keys = [os.path.join(self.tmp, f"id_tunnel{i + 1}") for i in range(self.slots)]
        self.known_hosts = os.path.join(self.tmp, "known_hosts")
        self.token_file = os.path.join(self.tmp, "control-token")
        self.token = secrets.token_hex(16)
        self.size = args.size_mib << 20
        self.serial = 0

    def path(self, *p):
        return os.path.join(self.tmp, *p)

    # -- processes ----------------------------------------------------------------------------
    def spawn(self, name: str, argv: list[str], env=None) -> subprocess.Popen:
        logf = open(os.path.join(self.logdir, f"{name}.log"), "ab")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                             env=env, start_new_session=True, cwd=self.tmp)
        logf.close()
        self.procs[p.pid] = p
        return p

    def kill_tree(self, pid: int, sig=signal.SIGKILL, include_self=True) -> None:
        """Signal pid's process group (it was started in a new session), then every descendant."""
        desc = descendants(pid)
        if include_self:
            try:
                os.killpg(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        for d in desc:
            try:
                os.kill(d, sig)
            except ProcessLookupError:
                pass

    def stop(self, p: subprocess.Popen, grace: float = 1.0) -> None:
        if p.poll() is None:
            self.kill_tree(p.pid, signal.SIGTERM)
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        self.kill_tree(p.pid, signal.SIGKILL)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.procs.pop(p.pid, None)
        self.reap()

    def reap(self) -> None:
        """Reap orphans re-parented to us (sshd session processes) that are not Popen children."""
        me = os.getpid()
        for pid in children_map().get(me, []):
            if pid in self.procs:
                continue
            st = proc_stat(pid)
            if st and st[0] == "Z":
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass

    def cleanup(self) -> None:
        self.nft_heal()
        for pid in list(self.procs):
            self.kill_tree(pid, signal.SIGKILL)
        for p in list(self.procs.values()):
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.procs.clear()
        for pid in descendants(os.getpid()):  # anything left that we started
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
        self.reap()
        if self.args.keep_tmp:
            log(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- nftables (own table, loopback only) ---------------------------------------------------
    def nft_drop_ports(self, ports: list[int]) -> None:
        rules = "\n".join(f'    iifname "lo" tcp dport {p} drop\n    iifname "lo" tcp sport {p} drop'
                          for p in ports)
        script = (f"table inet {NFT_TABLE} {{\n  chain input {{\n"
                  f"    type filter hook input priority -10; policy accept;\n{rules}\n  }}\n}}\n")
        subprocess.run(["nft", "-f", "-"], input=script.encode(), check=True)
        self.nft_active = True

    def nft_heal(self) -> None:
        if self.nft_active:
            subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], check=False,
                           stderr=subprocess.DEVNULL)
            self.nft_active = False

    # -- setup ---------------------------------------------------------------------------------
    def setup(self) -> None:
        log(f"temp dir {self.tmp}")
        self.write_files()
        self.start_backends()
        self.start_sshd()
        self.start_vps_nginx()

    def run_ok(self, argv, **kw):
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
        if r.returncode != 0:
            raise SetupError(f"{' '.join(argv)} failed: {r.stdout.decode(errors='replace')[-2000:]}")
        return r.stdout.decode(errors="replace")

    def write_files(self) -> None:
        www = self.path("www")
        os.makedirs(www)
        log(f"writing {self.args.size_mib} MiB of random data")
        with open(os.path.join(www, "big.bin"), "wb") as f:
            left = self.size
            while left:
                n = min(left, 8 << 20)
                f.write(os.urandom(n))
                left -= n
        with open(os.path.join(www, "small.html"), "w") as f:
            f.write("<!doctype html><title>small</title>\n" + "x" * 987 + "\n")
        self.run_ok(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pvtbench-vps",
                     "-f", self.path("ssh_host_ed25519_key")])
        hostpub = open(self.path("ssh_host_ed25519_key.pub")).read().split()
        with open(self.known_hosts, "w") as f:
            for p in self.sshd_ports:
                f.write(f"[127.0.0.1]:{p} {hostpub[0]} {hostpub[1]}\n")
        lines = []
        for i, key in enumerate(self.keys):
            self.run_ok(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"tunnel{i + 1}",
                         "-f", key])
            os.chmod(key, 0o600)
            pub = open(key + ".pub").read().strip()
            rp = self.remote_ports[i]
            lines.append(f'restrict,port-forwarding,permitlisten="127.0.0.1:{rp}",'
                         f'permitopen="127.0.0.1:{rp}" {pub}')
        with open(self.path("authorized_keys"), "w") as f:
            f.write("\n".join(lines) + "\n")
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, (self.token + "\n").encode())
        os.close(fd)

    def nginx_common(self, name: str) -> str:
        d = self.path(name)
        os.makedirs(d, exist_ok=True)
        user = "user root;\n" if os.geteuid() == 0 else ""
        return (f"{user}worker_processes {self.args.nginx_workers};\n"
                f"worker_rlimit_nofile 65536;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n"
                f"events {{ worker_connections 4096; multi_accept on; }}\n")

    def nginx_http_common(self, name: str) -> str:
        d = self.path(name)
        return (f"  access_log off;\n  client_body_temp_path {d}/body;\n"
                f"  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n"
                f"  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n"
                "  default_type application/octet-stream;\n  sendfile on;\n  tcp_nopush on;\n"
                "  keepalive_requests 1000000;\n")

    def start_nginx(self, name: str, conf: str) -> subprocess.Popen:
        cpath = self.path(name, "nginx.conf")
        with open(cpath, "w") as f:
            f.write(conf)
        self.run_ok(["nginx", "-t", "-q", "-p", self.path(name) + "/", "-e",
                     self.path(name, "error.log"), "-c", cpath])
        return self.spawn(name, ["nginx", "-p", self.path(name) + "/", "-e",
                                 self.path(name, "error.log"), "-c", cpath, "-g", "daemon off;"])

    def wait_port(self, port: int, p: subprocess.Popen, what: str, timeout: float = 10) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if p.poll() is not None:
                raise SetupError(f"{what} exited with {p.returncode}; see {self.logdir}")
            if port_open(port):
                return
            time.sleep(0.05)
        raise SetupError(f"{what} not listening on {port} after {timeout}s")

    def start_backends(self) -> None:
        p = [sys.executable, os.path.abspath(__file__), "_sink", str(self.sink_port)]
        sink = self.spawn("sink", p)
        self.wait_port(self.sink_port, sink, "upload sink")
        for i, port in enumerate(self.backend_ports):
            name = f"backend{i + 1}"
            conf = self.nginx_common(name) + "http {\n" + self.nginx_http_common(name) + f"""
  upstream sink {{ server 127.0.0.1:{self.sink_port}; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    root {self.path('www')};
    location = /healthz {{ default_type text/plain; return 200 "ok\\n"; }}
    location = /whoami {{ default_type text/plain; return 200 "{name}\\n"; }}
    location = /upload {{
      client_max_body_size 0;
      proxy_request_buffering off;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 300s;
      proxy_send_timeout 300s;
      proxy_pass http://sink;
    }}
  }}
}}
"""
            proc = self.start_nginx(name, conf)
            self.wait_port(port, proc, name)
        log(f"backends on {self.backend_ports}, upload sink on {self.sink_port}")

    def start_vps_nginx(self) -> None:
        a = self.args
        r0, r1 = self.remote_ports[0], self.remote_ports[1]
        loc = f"""
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout http_502;
      proxy_connect_timeout {a.proxy_connect_timeout_s}s;
      proxy_read_timeout {a.proxy_read_timeout_s}s;
      proxy_send_timeout {a.proxy_read_timeout_s}s;"""
        conf = self.nginx_common("vps-nginx") + "http {\n" + self.nginx_http_common("vps-nginx") + f"""
  upstream home_slot0 {{ server 127.0.0.1:{r0} max_fails=1 fail_timeout=10s;
                         server 127.0.0.1:{r1} backup; keepalive 64; }}
  upstream home_slot1 {{ server 127.0.0.1:{r1} max_fails=1 fail_timeout=10s;
                         server 127.0.0.1:{r0} backup; keepalive 64; }}
  upstream direct {{ server 127.0.0.1:{self.backend_ports[0]}; keepalive 64; }}
  server {{ listen 127.0.0.1:{self.vps_ports['slot0']} backlog=4096;
           location / {{ proxy_pass http://home_slot0;{loc} }} }}
  server {{ listen 127.0.0.1:{self.vps_ports['slot1']} backlog=4096;
           location / {{ proxy_pass http://home_slot1;{loc} }} }}
  server {{ listen 127.0.0.1:{self.vps_ports['direct']} backlog=4096;
           location / {{ proxy_pass http://direct;{loc} }} }}
}}
"""
        proc = self.start_nginx("vps-nginx", conf)
        self.vps_nginx = proc
        for p in self.vps_ports.values():
            self.wait_port(p, proc, "vps nginx")
        log(f"VPS nginx on {self.vps_ports}")

    def sshd_config(self) -> str:
        cfg = self.path("sshd_config")
        listen = "".join(f"ListenAddress 127.0.0.1:{p}\n" for p in self.sshd_ports)
        with open(cfg, "w") as f:
            f.write(f"""{listen}HostKey {self.path('ssh_host_ed25519_key')}
PidFile {self.path('sshd.pid')}
AuthorizedKeysFile {self.path('authorized_keys')}
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
ClientAliveInterval {self.args.client_alive_interval_s}
ClientAliveCountMax {self.args.client_alive_count_max}
AllowTcpForwarding yes
GatewayPorts no
X11Forwarding no
PrintMotd no
UseDNS no
MaxStartups 100:30:200
LogLevel VERBOSE
""")
        return cfg

    def start_sshd(self) -> None:
        os.makedirs("/run/sshd", exist_ok=True)
        cfg = self.sshd_config()
        self.run_ok(["/usr/sbin/sshd", "-t", "-f", cfg])
        self.sshd = self.spawn("sshd-launch", ["/usr/sbin/sshd", "-D", "-f", cfg, "-E",
                                               self.path("logs", "sshd.log")])
        for p in self.sshd_ports:
            self.wait_port(p, self.sshd, "sshd")
        log(f"sshd (pid {self.sshd.pid}) on {self.sshd_ports}")

    def crash_sshd(self) -> None:
        """SIGKILL the listener and every session process of *our* sshd (its descendants)."""
        assert self.sshd is not None
        self.kill_tree(self.sshd.pid, signal.SIGKILL)
        try:
            self.sshd.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.procs.pop(self.sshd.pid, None)
        self.reap()

    def sshd_session_of(self, client_port: int) -> list[int]:
        """sshd processes (monitor + its children) serving the connection from client_port."""
        assert self.sshd is not None
        cmap = children_map()
        table = tcp_table()
        for top in cmap.get(self.sshd.pid, []):
            tree = [top] + descendants(top, cmap)
            for pid in tree:
                if any(t[1] == client_port and t[0] in self.sshd_ports
                       for t in tcp_conns_of(pid, table)):
                    return tree
        return []


# ---------------------------------------------------------------------------------------------
# tunnels
# ---------------------------------------------------------------------------------------------

class Tunnel:
    impl = "?"

    def __init__(self, env: Env, slot: int, backend: int, keepalive=(10, 3), label=None):
        self.env, self.slot, self.backend = env, slot, backend
        self.keepalive = keepalive
        self.remote = env.remote_ports[slot]
        self.sshd_port = env.sshd_ports[slot]
        self.local = env.backend_ports[backend]
        self.whoami = f"backend{backend + 1}"
        self.proc: subprocess.Popen | None = None
        self.label = label or self.impl
        env.serial += 1
        self.logname = f"{self.label}-slot{slot}-{env.serial}"
        self.started_at = None
        self.startup_s = None

    def serves(self, timeout: float = 0.5) -> bool:
        st, body = try_get(self.remote, "/whoami", timeout)
        return st == 200 and body == self.whoami

    def wait_ready(self, timeout: float = 30) -> float:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.logname} exited ({self.proc and self.proc.returncode}); "
                                   f"log: {self.log_tail()}")
            if self.ready_extra() and self.serves():
                self.startup_s = time.monotonic() - self.started_at
                return self.startup_s
            time.sleep(0.05)
        raise RuntimeError(f"{self.logname} not serving on {self.remote} after {timeout}s; "
                           f"log: {self.log_tail()}")

    def ready_extra(self) -> bool:
        return True

    def log_tail(self, n=15) -> str:
        try:
            with open(os.path.join(self.env.logdir, self.logname + ".log"), errors="replace") as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None:
            self.env.stop(self.proc)

    def pids(self) -> list[int]:
        """Processes that make up the tunnel (for memory and CPU)."""
        raise NotImplementedError

    def session_pid(self) -> int | None:
        """The process holding the SSH connection."""
        raise NotImplementedError

    def session_client_port(self) -> int | None:
        pid = self.session_pid()
        if pid is None:
            return None
        for lport, rport, state, _ in tcp_conns_of(pid):
            if rport == self.sshd_port and state == "01":
                return lport
        return None

    def kill9(self) -> None:
        pid = self.session_pid()
        if pid:
            os.kill(pid, signal.SIGKILL)


class WorkerTunnel(Tunnel):
    impl = "worker"

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.control_port = self.env.ports.get()
        self.name = f"tunnel{self.slot + 1}"
        self.conf = self.env.path(f"worker-{self.logname}.toml")

    def write_config(self) -> None:
        e, a = self.env, self.env.args
        with open(self.conf, "w") as f:
            f.write(f"""[[tunnel]]
name = "{self.name}"
guest = "{self.name}"
role = "{'primary' if self.slot == 0 else 'backup'}"
vps_host = "127.0.0.1"
vps_port = {self.sshd_port}
user = "{e.user}"
key_file = "{e.keys[self.slot]}"
known_hosts_file = "{e.known_hosts}"
remote = "127.0.0.1:{self.remote}"
local = "127.0.0.1:{self.local}"
keepalive_interval_s = {self.keepalive[0]}
keepalive_count_max = {self.keepalive[1]}
probe = {'true' if a.worker_probe else 'false'}
probe_path = "/healthz"
probe_interval_s = {a.probe_interval_s}
control_listen = "127.0.0.1:{self.control_port}"
control_token_file = "{e.token_file}"
""")

    def start(self) -> None:
        self.write_config()
        argv = [self.env.args.worker, "tunnel", "--config", self.conf, "--name", self.name]
        argv += self.env.args.worker_arg
        self.started_at = time.monotonic()
        self.proc = self.env.spawn(self.logname, argv)

    def status(self, timeout: float = 0.5):
        try:
            with socket.create_connection(("127.0.0.1", self.control_port), timeout=timeout) as s:
                s.settimeout(timeout)
                s.sendall((f"GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                           f"{self.env.token}\r\nConnection: close\r\n\r\n").encode())
                buf = b""
                while True:
                    c = s.recv(65536)
                    if not c:
                        break
                    buf += c
            head, _, body = buf.partition(b"\r\n\r\n")
            if b" 200 " not in head.split(b"\r\n")[0] + b" ":
                return None
            if b"chunked" in head.lower():
                body = dechunk(body)
            return json.loads(body)
        except (OSError, ValueError):
            return None

    def state(self):
        st = self.status()
        return st.get("state") if isinstance(st, dict) else None

    def ready_extra(self) -> bool:
        return self.state() == "serving"

    def pids(self) -> list[int]:
        if self.proc is None or not alive(self.proc.pid):
            return []
        return [self.proc.pid] + [d for d in descendants(self.proc.pid) if alive(d)]

    def session_pid(self):
        return self.proc.pid if self.proc and alive(self.proc.pid) else None


def dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        line, _, body = body.partition(b"\r\n")
        n = int(line.split(b";")[0] or b"0", 16)
        if n == 0:
            break
        out += body[:n]
        body = body[n + 2:]
    return out


class ClassicTunnel(Tunnel):
    impl = "classic"

    def __init__(self, *a, aes=False, **kw):
        self.aes = aes
        super().__init__(*a, **kw)

    def start(self) -> None:
        e = self.env
        ssh_opts = ["-N", "-F", "/dev/null",
                    "-o", f"ServerAliveInterval={self.keepalive[0]}",
                    "-o", f"ServerAliveCountMax={self.keepalive[1]}",
                    "-o", "ExitOnForwardFailure=yes", "-o", "StrictHostKeyChecking=yes",
                    "-o", f"UserKnownHostsFile={e.known_hosts}", "-o", "BatchMode=yes",
                    "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
                    "-i", e.keys[self.slot], "-p", str(self.sshd_port)]
        if self.aes:
            ssh_opts += ["-c", "aes128-ctr", "-m", "hmac-sha2-256"]
        ssh_opts += e.args.classic_opt
        ssh_opts += ["-R", f"127.0.0.1:{self.remote}:127.0.0.1:{self.local}", f"{e.user}@127.0.0.1"]
        env = dict(os.environ)
        env.pop("SSH_AUTH_SOCK", None)
        env.update(AUTOSSH_GATETIME="0", AUTOSSH_PATH=shutil.which("ssh") or "/usr/bin/ssh",
                   AUTOSSH_LOGFILE=os.path.join(e.logdir, self.logname + ".autossh.log"))
        self.started_at = time.monotonic()
        self.proc = e.spawn(self.logname, ["autossh", "-M", "0"] + ssh_opts, env=env)

    def ssh_pid(self):
        if self.proc is None:
            return None
        for c in children_map().get(self.proc.pid, []):
            if alive(c) and proc_comm(c) == "ssh":
                return c
        return None

    def pids(self) -> list[int]:
        out = []
        if self.proc and alive(self.proc.pid):
            out.append(self.proc.pid)
            out += [d for d in descendants(self.proc.pid) if alive(d)]
        return out

    def session_pid(self):
        return self.ssh_pid()


def make_tunnel(env: Env, impl: str, slot: int, backend: int, keepalive=(10, 3)) -> Tunnel:
    if impl == "worker":
        t = WorkerTunnel(env, slot, backend, keepalive)
    elif impl == "classic":
        t = ClassicTunnel(env, slot, backend, keepalive, label="classic")
    elif impl == "classic_aes128ctr":
        t = ClassicTunnel(env, slot, backend, keepalive, aes=True, label="classic_aes")
    else:
        raise ValueError(impl)
    t.config = impl
    return t


class Tunnels:
    """Starts a set of tunnels, waits until all serve, stops them on exit."""

    def __init__(self, env: Env, specs, keepalive=(10, 3)):
        self.env = env
        self.list = [make_tunnel(env, impl, slot, backend, keepalive) for impl, slot, backend in specs]

    def __enter__(self):
        try:
            for t in self.list:
                t.start()
            for t in self.list:
                t.wait_ready()
                log(f"  {t.logname} serving on {t.remote} after {t.startup_s:.2f}s")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        for t in self.list:
            t.stop()
        return False


# ---------------------------------------------------------------------------------------------
# load generators
# ---------------------------------------------------------------------------------------------

def parse_time(v: str, unit: str) -> float:
    return float(v) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]


def run_wrk(port: int, path: str, conns: int, threads: int, duration_s: float, timeout_s=5):
    argv = ["wrk", "--latency", "-c", str(conns), "-t", str(threads), "-d", f"{duration_s}s",
            "--timeout", f"{timeout_s}s", f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=duration_s + 60).stdout.decode(errors="replace")
    return parse_wrk(out)


def parse_wrk(out: str) -> dict:
    res = {"requests": None, "rps": None, "errors": 0, "non2xx": 0,
           "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0}}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    if m:
        res["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.M)
        if m:
            res[f"p{pct}_ms"] = round(parse_time(m.group(1), m.group(2)) * 1e3, 3)
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["socket_errors"] = dict(zip(["connect", "read", "write", "timeout"],
                                        map(int, m.groups())))
        res["errors"] = sum(map(int, m.groups()))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        res["non2xx"] = int(m.group(1))
    if res["rps"] is None:
        res["raw"] = out[-1500:]
    return res


class ClientLoop:
    """Threads sending GET /whoami through the VPS nginx, each on a fresh connection."""

    def __init__(self, port: int, threads: int = 4, timeout: float = 10.0, pause: float = 0.02):
        self.port, self.threads, self.timeout, self.pause = port, threads, timeout, pause
        self.records: list[tuple[float, float, int | None, str]] = []
        self.lock = threading.Lock()
        self.stop_evt = threading.Event()
        self.ts: list[threading.Thread] = []

    def _run(self):
        while not self.stop_evt.is_set():
            t0 = time.monotonic()
            st, body = try_get(self.port, "/whoami", self.timeout)
            t1 = time.monotonic()
            with self.lock:
                self.records.append((t0, t1, st, body))
            time.sleep(self.pause)

    def __enter__(self):
        for _ in range(self.threads):
            t = threading.Thread(target=self._run, daemon=True)
            t.start()
            self.ts.append(t)
        return self

    def __exit__(self, *exc):
        self.stop_evt.set()
        for t in self.ts:
            t.join(self.timeout + 2)
        return False

    def failures(self, since=None, until=None):
        return [r for r in self.records if r[2] != 200
                and (since is None or r[1] >= since) and (until is None or r[0] <= until)]

    def first_ok_from(self, backend: str, after: float):
        ts = [r[1] for r in self.records if r[2] == 200 and r[3] == backend and r[1] >= after]
        return min(ts) if ts else None


class Prober:
    """Polls one tunnel: its state (worker: control API state; classic: the ssh child's pid) and,
    when remote=True, a request straight through its remote port on the VPS."""

    def __init__(self, tunnel: Tunnel, remote=True, interval: float = 0.05, timeout: float = 0.5):
        self.t, self.remote, self.interval, self.timeout = tunnel, remote, interval, timeout
        self.samples: list[tuple[float, bool | None, str | None]] = []
        self.stop_evt = threading.Event()
        self.th = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop_evt.is_set():
            now = time.monotonic()
            ok = self.t.serves(self.timeout) if self.remote else None
            if isinstance(self.t, WorkerTunnel):
                state = self.t.state()
            else:
                state = f"ssh:{self.t.session_pid()}"
            self.samples.append((now, ok, state))
            self.stop_evt.wait(max(0.0, self.interval - (time.monotonic() - now)))

    def __enter__(self):
        self.th.start()
        return self

    def __exit__(self, *exc):
        self.stop_evt.set()
        self.th.join(5)
        return False

    def first(self, pred, after: float):
        for t, ok, state in self.samples:
            if t >= after and pred(ok, state):
                return t
        return None


class ListenWatch:
    """Polls /proc/net/tcp for the socket listening on 127.0.0.1:port (a tunnel's remote forward
    on the VPS) and records every change of that socket's inode. After a silent drop the stale
    sshd session holds the port until the VPS's ClientAlive check ends it (its inode goes away:
    the VPS released the port); the reconnected tunnel's listener is a new inode (re-bound)."""

    def __init__(self, port: int, interval: float = 0.01):
        self.key = f"0100007F:{port:04X}"
        self.interval = interval
        self.changes: list[tuple[float, int | None]] = []
        self.stop_evt = threading.Event()
        self.th = threading.Thread(target=self._run, daemon=True)

    def inode(self) -> int | None:
        with open("/proc/net/tcp") as f:
            for line in f:
                p = line.split()
                if p[1] == self.key and p[3] == "0A":
                    return int(p[9])
        return None

    def _run(self):
        last = -1
        while not self.stop_evt.is_set():
            now = time.monotonic()
            ino = self.inode()
            if ino != last:
                self.changes.append((now, ino))
                last = ino
            self.stop_evt.wait(max(0.0, self.interval - (time.monotonic() - now)))

    def __enter__(self):
        self.th.start()
        while not self.changes:
            time.sleep(0.001)
        return self

    def __exit__(self, *exc):
        self.stop_evt.set()
        self.th.join(5)
        return False

    def rebind(self, after: float):
        """(released, rebound): when the listener present at `after` went away, and when the
        next one (another inode) appeared; either is None when it did not happen. A change from
        one inode to another between two polls counts as released and rebound at that poll."""
        first = [x for x in self.changes if x[0] <= after]
        old = first[-1][1] if first else None
        released = rebound = None
        for t, ino in self.changes:
            if t <= after:
                continue
            if released is None and ino != old:
                released = t
            if released is not None and ino is not None and ino != old:
                rebound = t
                break
        return released, rebound


# ---------------------------------------------------------------------------------------------
# scenarios
# ---------------------------------------------------------------------------------------------

def other_impl(impls, impl):
    rest = [i for i in impls if i != impl]
    return rest[0] if rest else impl


def curl_transfer(port: int, env: Env, upload: bool) -> float:
    url = f"http://127.0.0.1:{port}"
    if upload:
        hdr = env.path("upload.headers")
        argv = ["curl", "-sS", "-o", "/dev/null", "-D", hdr, "-X", "POST", "-H", "Expect:",
                "-H", "Content-Type: application/octet-stream", "-T", env.path("www", "big.bin"),
                "-w", "%{http_code} %{size_upload} %{time_total}", url + "/upload"]
    else:
        argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}",
                url + "/big.bin"]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    parts = r.stdout.decode().split()
    if r.returncode != 0 or len(parts) != 3:
        raise RuntimeError(f"curl failed rc={r.returncode}: {r.stderr.decode()[-300:]}")
    code, size, total = int(parts[0]), int(parts[1]), float(parts[2])
    want = 204 if upload else 200
    if code != want or size != env.size:
        raise RuntimeError(f"curl: HTTP {code}, {size} bytes (want {want}, {env.size})")
    if upload:
        m = re.search(r"X-Received: (\d+)", open(hdr).read(), re.I)
        if not m or int(m.group(1)) != env.size:
            raise RuntimeError(f"upload sink received {m and m.group(1)} of {env.size} bytes")
    return env.size / total / 1e6


def sc_bulk(env: Env, impls, a) -> dict:
    configs = ["direct"] + (["worker"] if "worker" in impls else []) + \
        (["classic", "classic_aes128ctr"] if "classic" in impls else [])
    slots = {"worker": 0, "classic": 1, "classic_aes128ctr": 2}
    specs = [(c, slots[c], 0) for c in configs if c != "direct"]
    res = {"unit": "MB/s (10^6 bytes/s)", "size_mib": a.size_mib, "rounds": a.rounds,
           "download": {}, "upload": {}}
    res["cpu_unit"] = "CPU s/GiB: utime + stime of the tunnel's own processes during a transfer"
    hz = os.sysconf("SC_CLK_TCK")
    gib = env.size / 2**30

    def cpu_ticks(t) -> int:
        return sum(st[2] for st in (proc_stat(p) for p in t.pids()) if st)

    with Tunnels(env, specs) as ts:
        port = {"direct": env.backend_ports[0]}
        port.update({t.config: t.remote for t in ts.list})
        tunnel = {t.config: t for t in ts.list}
        for direction in ("download", "upload"):
            runs = {c: [] for c in configs}
            cpu = {c: [] for c in configs if c != "direct"}
            for r in range(a.rounds):  # round-robin, so background load hits all alike
                for c in configs:
                    before = cpu_ticks(tunnel[c]) if c in cpu else 0
                    mbs = curl_transfer(port[c], env, direction == "upload")
                    runs[c].append(round(mbs, 1))
                    if c in cpu:
                        cpu[c].append(round((cpu_ticks(tunnel[c]) - before) / hz / gib, 2))
                    log(f"  bulk {direction} {c} round {r + 1}: {mbs:.1f} MB/s"
                        + (f", {cpu[c][-1]} CPU s/GiB" if c in cpu else ""))
            d = res[direction]
            for c in configs:
                d[c] = {"mb_s": median(runs[c]), "runs": runs[c]}
                if c in cpu:
                    d[c].update(cpu_s_per_gib=median(cpu[c]), cpu_runs=cpu[c])
            if "worker" in d:
                d["ratio_worker_classic"] = ratio(d["worker"]["mb_s"], d.get("classic", {}).get("mb_s"))
                d["ratio_worker_classic_aes128ctr"] = ratio(
                    d["worker"]["mb_s"], d.get("classic_aes128ctr", {}).get("mb_s"))
                d["ratio_cpu_worker_classic_aes128ctr"] = ratio(
                    d["worker"]["cpu_s_per_gib"],
                    d.get("classic_aes128ctr", {}).get("cpu_s_per_gib"))
    return res


def sc_wrk(env: Env, impls, a) -> dict:
    slot_of = {"worker": 0, "classic": 1}
    specs = [(i, slot_of[i], slot_of[i]) for i in ("worker", "classic") if i in impls]
    if len(specs) == 1:  # one implementation only: it is its own backup
        i = specs[0][0]
        specs.append((i, 1 - slot_of[i], 1 - slot_of[i]))
    res = {"connections": a.wrk_connections, "threads": a.wrk_threads, "duration_s": a.duration_s,
           "path": "/small.html", "rounds": a.rounds}
    with Tunnels(env, specs):
        targets = {"direct": env.vps_ports["direct"]}
        for i in impls:
            targets[i] = env.vps_ports[f"slot{slot_of[i]}"]
        runs = {k: [] for k in targets}
        for k, p in targets.items():  # warm up keepalive pools
            run_wrk(p, "/small.html", a.wrk_connections, a.wrk_threads, 1)
        for r in range(a.rounds):
            for k, p in targets.items():
                w = run_wrk(p, "/small.html", a.wrk_connections, a.wrk_threads, a.duration_s)
                runs[k].append(w)
                log(f"  wrk primary={k} round {r + 1}: {w.get('rps')} req/s, p99 {w.get('p99_ms')} ms, "
                    f"errors {w['errors']}, non-2xx {w['non2xx']}")
    for k, rs in runs.items():
        res[k] = {"rps": median([w["rps"] for w in rs]),
                  "p50_ms": median([w.get("p50_ms") for w in rs]),
                  "p99_ms": median([w.get("p99_ms") for w in rs]),
                  "errors": sum(w["errors"] for w in rs), "non2xx": sum(w["non2xx"] for w in rs),
                  "runs": rs}
    if "worker" in res and "classic" in res:
        res["ratio_rps_worker_classic"] = ratio(res["worker"]["rps"], res["classic"]["rps"])
        res["ratio_p99_worker_classic"] = ratio(res["worker"]["p99_ms"], res["classic"]["p99_ms"])
    return res


def wait_vps_primary(env: Env, port: int, whoami: str, timeout: float = 30,
                     streak: int = 10) -> float:
    """Wait until the VPS nginx sends requests to the primary. After an earlier round nginx may
    still hold that address as failed (fail_timeout 10 s); a reload (SIGHUP to the nginx master
    this script started) starts fresh workers with a clean upstream state. Returns seconds waited."""
    t0 = time.monotonic()
    n = 0
    reloaded = False
    while time.monotonic() - t0 < timeout:
        st, body = try_get(port, "/whoami", 3)
        n = n + 1 if st == 200 and body == whoami else 0
        if n >= streak:
            return time.monotonic() - t0
        if not n and not reloaded and time.monotonic() - t0 > 1 and env.vps_nginx is not None:
            os.kill(env.vps_nginx.pid, signal.SIGHUP)
            reloaded = True
        time.sleep(0.05 if n else 0.2)
    raise RuntimeError(f"VPS nginx on {port} does not serve from the primary ({whoami}) "
                       f"after {timeout}s")


def pair_specs(impls, primary):
    """(primary on slot0/backend1, backup on slot1/backend2) and the VPS port that uses them."""
    return [(primary, 0, 0), (other_impl(impls, primary), 1, 1)]


def sc_kill(env: Env, impls, a) -> dict:
    res = {"rounds": a.kill_rounds, "load": f"wrk -c {a.kill_connections} -t 2 + 2 python loops",
           "pre_s": a.kill_pre_s, "post_s": a.kill_post_s}
    for impl in impls:
        rounds = []
        for r in range(a.kill_rounds):
            with Tunnels(env, pair_specs(impls, impl)) as ts:
                prim, backup = ts.list
                port = env.vps_ports["slot0"]
                wait_vps_primary(env, port, prim.whoami)
                out = {}
                th = threading.Thread(target=lambda: out.update(run_wrk(
                    port, "/small.html", a.kill_connections, 2, a.kill_pre_s + a.kill_post_s)))
                with ClientLoop(port, threads=2, timeout=10) as loop:
                    th.start()
                    time.sleep(a.kill_pre_s)
                    victim = prim.session_pid()
                    t_kill = time.monotonic()
                    prim.kill9()
                    log(f"  kill -9 {impl} primary (pid {victim})")
                    th.join()
                fails = loop.failures()
                rec = {"wrk_requests": out.get("requests"), "wrk_errors": out.get("errors"),
                       "wrk_non2xx": out.get("non2xx"), "wrk_socket_errors": out.get("socket_errors"),
                       "loop_requests": len(loop.records), "loop_failed": len(fails),
                       "loop_failures": [{"t": round(f[0] - t_kill, 3), "status": f[2], "err": f[3]}
                                         for f in fails[:10]],
                       "backup_served_after_kill": sum(1 for x in loop.records if x[2] == 200
                                                       and x[3] == backup.whoami and x[0] > t_kill),
                       "killed_pid": victim}
                rec["failed"] = (rec["wrk_errors"] or 0) + (rec["wrk_non2xx"] or 0) + rec["loop_failed"]
                if rec["backup_served_after_kill"] == 0:
                    rec["warning"] = "backup served nothing after the kill: failover not exercised"
                log(f"  {impl} killed: {rec['failed']} failed requests "
                    f"(wrk {rec['wrk_requests']} req, loop {rec['loop_requests']} req)")
                rounds.append(rec)
        res[impl] = {"failed_requests": sum(x["failed"] for x in rounds),
                     "requests": sum((x["wrk_requests"] or 0) + x["loop_requests"] for x in rounds),
                     "rounds": rounds}
    return res


def sc_drop(env: Env, impls, a) -> dict:
    ka = (a.drop_keepalive_interval_s, a.drop_keepalive_count_max)
    res = {"method": a.drop_method, "drop_s": a.drop_s, "keepalive": f"{ka[0]}s x {ka[1]}",
           "sshd_client_alive": f"{a.client_alive_interval_s}s x {a.client_alive_count_max}",
           "proxy_read_timeout_s": a.proxy_read_timeout_s, "rounds": a.rounds_drop}
    # Staggered drop durations: when the heal lands relative to a reconnect attempt that is stuck
    # in the blackhole (its connect/handshake deadline, the kernel's SYN backoff, autossh's sleep)
    # decides the time to recover, so one duration samples one phase only.
    durations = [round(a.drop_s + i * a.drop_stagger_s, 2) for i in range(a.rounds_drop)]
    res["drop_durations_s"] = durations
    for impl in impls:
        rounds = []
        for r in range(a.rounds_drop):
            drop_s = durations[r]
            specs = pair_specs(impls, impl)
            ts = Tunnels(env, specs, keepalive=ka)
            with ts:
                prim, backup = ts.list
                port = env.vps_ports["slot0"]
                wait_vps_primary(env, port, prim.whoami)
                stopped: list[int] = []
                # No probing through the primary's remote port while it is dropped: every
                # connection there is activity for the stale sshd session and can keep its
                # ClientAlive check from firing, which would lengthen what we measure.
                with ClientLoop(port, threads=4, timeout=15) as loop, \
                        Prober(prim, remote=False) as watch, ListenWatch(prim.remote) as lw:
                    time.sleep(2)
                    cport = prim.session_client_port()
                    state0 = watch.samples[-1][2] if watch.samples else None
                    t_drop = time.monotonic()
                    try:
                        if a.drop_method == "port":
                            env.nft_drop_ports([prim.sshd_port])
                        elif a.drop_method == "flow":
                            if cport is None:
                                raise RuntimeError("session's client port not found")
                            env.nft_drop_ports([cport])
                        else:
                            stopped = env.sshd_session_of(cport) if cport else []
                            if not stopped:
                                raise RuntimeError("sshd session process not found")
                            for p in stopped:
                                os.kill(p, signal.SIGSTOP)
                        log(f"  {impl} primary dropped for {drop_s}s ({a.drop_method}, "
                            f"client port {cport})")
                        time.sleep(drop_s)
                    finally:
                        # one request right before the heal: did the primary come back during the
                        # drop (flow/sigstop: a new session can bind once sshd reaped the old one)?
                        before_heal = prim.serves(0.5) if cport else None
                        t_heal = time.monotonic()
                        env.nft_heal()
                        for p in stopped:
                            try:
                                os.kill(p, signal.SIGCONT)
                            except ProcessLookupError:
                                pass
                    log(f"  {impl} healed; waiting for the primary")
                    with Prober(prim) as probe:
                        end = time.monotonic() + a.heal_wait_s
                        while time.monotonic() < end:
                            if probe.first(lambda ok, st: ok, t_heal) is not None:
                                if not isinstance(prim, WorkerTunnel) or \
                                        probe.first(lambda ok, st: st == "serving", t_heal):
                                    break
                            time.sleep(0.1)
                        time.sleep(1)
                detected = watch.first(lambda ok, st: st != state0, t_drop)
                back = probe.first(lambda ok, st: ok, t_heal)
                backup_ok = loop.first_ok_from(backup.whoami, t_drop)
                fails = loop.failures(since=t_drop)
                lat = [x[1] - x[0] for x in loop.records if x[0] >= t_drop - 1 and x[2] == 200]
                rec = {
                    "drop_s": drop_s, "client_port": cport,
                    "drop_detected_after_s": round(detected - t_drop, 3) if detected else None,
                    "backup_serving_after_s": round(backup_ok - t_drop, 3) if backup_ok else None,
                    "primary_back_after_heal_s": round(back - t_heal, 3) if back else None,
                    "primary_back_before_heal": before_heal,
                    "requests": len(loop.records), "failed": len(fails),
                    "max_latency_s": round(max(lat), 3) if lat else None,
                }
                # Re-bind: from the VPS releasing the stale session's port (its listener goes) to
                # the reconnected tunnel's listener. Only where the tunnel can reach the VPS during
                # the drop (flow, sigstop); with `port` it cannot before the heal.
                released, rebound = lw.rebind(t_drop)
                rec["port_released_after_drop_s"] = \
                    round(released - t_drop, 3) if released else None
                rec["rebound_after_drop_s"] = round(rebound - t_drop, 3) if rebound else None
                rec["rebound_after_release_s"] = round(rebound - released, 3) \
                    if released and rebound and a.drop_method != "port" else None
                if isinstance(prim, WorkerTunnel):
                    sv = probe.first(lambda ok, st: st == "serving", t_heal)
                    rec["worker_state_serving_after_heal_s"] = round(sv - t_heal, 3) if sv else None
                states = []
                for t, ok, st in sorted(watch.samples + probe.samples, key=lambda x: x[0]):
                    if t >= t_drop and (not states or states[-1][1] != st):
                        states.append((round(t - t_drop, 2), st))
                rec["states"] = states[:40]
                log(f"  {impl}: backup serving after {rec['backup_serving_after_s']}s, primary back "
                    f"{rec['primary_back_after_heal_s']}s after heal, {rec['failed']} failed; port "
                    f"released {rec['port_released_after_drop_s']}s after the drop, re-bound "
                    f"{rec['rebound_after_release_s']}s after that")
                rounds.append(rec)
        res[impl] = {k: median([x.get(k) for x in rounds]) for k in
                     ("backup_serving_after_s", "primary_back_after_heal_s", "drop_detected_after_s",
                      "port_released_after_drop_s", "rebound_after_release_s")}
        rebinds = [x.get("rebound_after_release_s") for x in rounds]
        res[impl]["rebound_after_release_s_max"] = None if None in rebinds else max(rebinds)
        backs = [x.get("primary_back_after_heal_s") for x in rounds]
        res[impl]["primary_back_after_heal_s_max"] = None if None in backs else max(backs)
        res[impl]["failed"] = sum(x["failed"] for x in rounds)
        res[impl]["rounds"] = rounds
    if "worker" in res and "classic" in res:
        for k in ("backup_serving_after_s", "primary_back_after_heal_s", "rebound_after_release_s"):
            res[f"ratio_{k}_worker_classic"] = ratio(res["worker"][k], res["classic"][k])
    return res


def sc_restart(env: Env, impls, a) -> dict:
    specs = []
    for impl in impls:
        base = 0 if impl == "worker" or len(impls) == 1 else 2
        specs += [(impl, base, 0), (impl, base + 1, 1)]
    if len(impls) == 1:
        specs += [(impls[0], 2, 0), (impls[0], 3, 1)]
    res = {"rounds": a.rounds, "tunnels": [f"{i}@slot{s}" for i, s, _ in specs]}
    per = {i: [] for i in impls}
    rounds = []
    for r in range(a.rounds):
        with Tunnels(env, specs) as ts:
            time.sleep(1)
            t0 = time.monotonic()
            env.crash_sshd()
            env.start_sshd()
            t_up = time.monotonic()
            pending = {id(t): t for t in ts.list}
            back = {}
            end = time.monotonic() + a.heal_wait_s
            while pending and time.monotonic() < end:
                for k, t in list(pending.items()):
                    if t.serves(0.5):
                        back[k] = time.monotonic() - t0
                        del pending[k]
                time.sleep(0.05)
            rec = {"sshd_up_after_s": round(t_up - t0, 3), "tunnels": {}}
            for t in ts.list:
                rec["tunnels"][f"{t.impl}@slot{t.slot}"] = round(back[id(t)], 3) if id(t) in back \
                    else None
            for impl in impls:
                vals = [back.get(id(t)) for t in ts.list if t.impl == impl]
                v = None if None in vals else round(max(vals), 3)
                rec[impl] = v
                per[impl].append(v)
            log(f"  sshd restart round {r + 1}: " +
                ", ".join(f"{k} back after {v}s" for k, v in rec["tunnels"].items()))
            rounds.append(rec)
    for impl in impls:
        vals = per[impl]
        res[impl] = {"both_back_after_s": None if None in vals else median(vals)}
    res["rounds_detail"] = rounds
    if "worker" in res and "classic" in res:
        res["ratio_worker_classic"] = ratio(res["worker"]["both_back_after_s"],
                                            res["classic"]["both_back_after_s"])
    return res


MEM_KEYS = ("rss_kb", "pss_kb", "private_dirty_kb", "anonymous_kb", "private_clean_kb")


def mem_sample(t: Tunnel) -> dict:
    """Sums over the tunnel's processes. private_dirty_kb (= anonymous here) is the memory only this
    tunnel uses; private_clean_kb is mostly the executable's own text (file-backed, reclaimable)."""
    tot = {k: 0 for k in MEM_KEYS}
    tot["cpu_ticks"] = 0
    procs = []
    for p in t.pids():
        s = smaps_rollup(p)
        st = proc_stat(p)
        v = {"rss_kb": s.get("Rss", 0), "pss_kb": s.get("Pss", 0),
             "private_dirty_kb": s.get("Private_Dirty", 0), "anonymous_kb": s.get("Anonymous", 0),
             "private_clean_kb": s.get("Private_Clean", 0)}
        procs.append({"pid": p, "comm": proc_comm(p), **v})
        for k in MEM_KEYS:
            tot[k] += v[k]
        tot["cpu_ticks"] += st[2] if st else 0
    tot["processes"] = procs
    return tot


def sc_memory(env: Env, impls, a) -> dict:
    slot_of = {"worker": 0, "classic": 1}
    specs = [(i, slot_of[i], slot_of[i]) for i in impls]
    hz = os.sysconf("SC_CLK_TCK")
    res = {"idle_s": a.idle_s, "flat": "RSS and private dirty grew by at most 5 %"}
    with Tunnels(env, specs) as ts:
        time.sleep(3)
        start = {t.impl: mem_sample(t) for t in ts.list}
        t0 = time.monotonic()
        log(f"  idle for {a.idle_s}s")
        time.sleep(a.idle_s)
        wall = time.monotonic() - t0
        end = {t.impl: mem_sample(t) for t in ts.list}
        for t in ts.list:
            s, e = start[t.impl], end[t.impl]

            def growth(k):
                return round((e[k] - s[k]) / s[k] * 100, 2) if s[k] else None

            g_rss, g_priv = growth("rss_kb"), growth("private_dirty_kb")
            res[t.impl] = {
                "startup_s": round(t.startup_s, 3),
                "after_setup": {k: s[k] for k in MEM_KEYS},
                "after_idle": {k: e[k] for k in MEM_KEYS},
                "rss_growth_pct": g_rss,
                "private_dirty_growth_pct": g_priv,
                "flat": g_rss is not None and g_rss <= 5 and (g_priv or 0) <= 5,
                "idle_cpu_s": round((e["cpu_ticks"] - s["cpu_ticks"]) / hz, 3),
                "idle_cpu_pct": round((e["cpu_ticks"] - s["cpu_ticks"]) / hz / wall * 100, 3),
                "processes": e["processes"],
            }
            log(f"  {t.impl}: RSS {s['rss_kb']} -> {e['rss_kb']} kB, private dirty "
                f"{s['private_dirty_kb']} -> {e['private_dirty_kb']} kB, idle CPU "
                f"{res[t.impl]['idle_cpu_s']}s")
    if "worker" in res and "classic" in res:
        w, c = res["worker"]["after_idle"], res["classic"]["after_idle"]
        res["ratio_rss_worker_classic"] = ratio(w["rss_kb"], c["rss_kb"])
        res["ratio_private_dirty_worker_classic"] = ratio(w["private_dirty_kb"], c["private_dirty_kb"])
        res["ratio_pss_worker_classic"] = ratio(w["pss_kb"], c["pss_kb"])
        res["ratio_idle_cpu_worker_classic"] = ratio(res["worker"]["idle_cpu_s"],
                                                     res["classic"]["idle_cpu_s"])
    return res


async def _concurrent(port: int, n: int, timeout: float, on_all_connected=None, batch=100,
                      batch_pause=0.1):
    """Open n connections at once, hold them all open (on_all_connected runs meanwhile), then send
    one request on each and read the whole answer."""
    connected = attempted = served = 0
    all_in, go = asyncio.Event(), asyncio.Event()
    errors: dict[str, int] = {}

    def count_attempt():
        nonlocal attempted
        attempted += 1
        if attempted == n:
            all_in.set()

    async def one(i):
        nonlocal connected, served
        w = None
        try:
            # connect in batches so sshd's listen backlog (128) does not overflow: otherwise the
            # kernel parks the excess in SYN-RECV and the test measures TCP's SYN-ACK backoff
            await asyncio.sleep((i // batch) * batch_pause)
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
                connected += 1
            finally:
                count_attempt()
            await go.wait()
            w.write(b"GET /small.html HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            data = await asyncio.wait_for(r.read(), timeout)
            if data.startswith(b"HTTP/1.1 200") and data.rstrip().endswith(b"x"):
                served += 1
            else:
                errors["bad_response"] = errors.get("bad_response", 0) + 1
        except Exception as e:  # noqa: BLE001 - counted by type
            errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
        finally:
            if w is not None:
                w.close()

    async def barrier():
        await all_in.wait()
        if on_all_connected:
            await asyncio.get_running_loop().run_in_executor(None, on_all_connected)
        go.set()

    t0 = time.monotonic()
    bt = asyncio.ensure_future(barrier())
    await asyncio.gather(*(one(i) for i in range(n)))
    await bt
    return {"connected": connected, "served": served, "errors": errors,
            "elapsed_s": round(time.monotonic() - t0, 3)}


def backend_conns(t: Tunnel) -> int:
    """Established connections from the tunnel's processes to its local target."""
    table = tcp_table()
    return sum(1 for pid in t.pids() for x in tcp_conns_of(pid, table)
               if x[1] == t.local and x[2] == "01")


def sc_concurrency(env: Env, impls, a) -> dict:
    slot_of = {"worker": 0, "classic": 1}
    specs = [(i, slot_of[i], slot_of[i]) for i in impls]
    res = {"connections": a.concurrency}
    with Tunnels(env, specs) as ts:
        for t in ts.list:
            before = mem_sample(t)
            peak = {}

            def count_channels(t=t):
                # all client connections are open and idle: wait until the tunnel has opened its
                # side of each channel (a connection to the backend), up to 20 s
                t0 = time.monotonic()
                best, best_at = 0, t0
                while time.monotonic() - t0 < 20 and time.monotonic() - best_at < 3:
                    n = backend_conns(t)
                    if n > best:
                        best, best_at = n, time.monotonic()
                    if n >= a.concurrency:
                        break
                    time.sleep(0.1)
                peak["backend_connections_held"] = best
                peak["all_held_after_s"] = round(best_at - t0, 3) if best >= a.concurrency \
                    else None

            base = backend_conns(t)
            r = asyncio.run(_concurrent(t.remote, a.concurrency, 60, count_channels))
            time.sleep(2)
            after = mem_sample(t)
            r["backend_connections_before"] = base
            r["backend_connections_after"] = backend_conns(t)  # > before: channels leaked
            r.update(peak)
            r["all_served"] = r["served"] == a.concurrency
            r["rss_kb_before"], r["rss_kb_after"] = before["rss_kb"], after["rss_kb"]
            r["private_dirty_kb_before"] = before["private_dirty_kb"]
            r["private_dirty_kb_after"] = after["private_dirty_kb"]
            r["tunnel_alive_after"] = t.serves(2)
            res[t.impl] = r
            log(f"  {t.impl}: {r['served']}/{a.concurrency} served in {r['elapsed_s']}s, "
                f"{r.get('backend_connections_held')} backend connections open at once, "
                f"errors {r['errors']}")
    return res


SCENARIOS = {"bulk": sc_bulk, "wrk": sc_wrk, "kill": sc_kill, "drop": sc_drop,
             "restart": sc_restart, "memory": sc_memory, "concurrency": sc_concurrency}


# ---------------------------------------------------------------------------------------------
# targets, meta, main
# ---------------------------------------------------------------------------------------------

def dig(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def evaluate_targets(sc: dict) -> list[dict]:
    def tgt(name, value, op, limit, classic=None):
        ok = None
        if value is not None:
            ok = {"ge": value >= limit, "le": value <= limit, "eq": value == limit}[op]
        t = {"target": name, "value": value, "op": op, "limit": limit, "pass": ok}
        if classic is not None:
            t["classic_value"] = classic
        return t

    out = [
        tgt("bulk download worker/classic(OpenSSH default)",
            dig(sc, "bulk", "download", "ratio_worker_classic"), "ge", 0.95),
        tgt("bulk upload worker/classic(OpenSSH default)",
            dig(sc, "bulk", "upload", "ratio_worker_classic"), "ge", 0.95),
        tgt("bulk download worker MB/s (1 Gbit/s line rate)",
            dig(sc, "bulk", "download", "worker", "mb_s"), "ge", 125.0,
            dig(sc, "bulk", "download", "classic", "mb_s")),
        tgt("bulk upload worker MB/s (1 Gbit/s line rate)",
            dig(sc, "bulk", "upload", "worker", "mb_s"), "ge", 125.0,
            dig(sc, "bulk", "upload", "classic", "mb_s")),
        tgt("wrk req/s worker/classic", dig(sc, "wrk", "ratio_rps_worker_classic"), "ge", 1.0),
        tgt("wrk p99 worker/classic", dig(sc, "wrk", "ratio_p99_worker_classic"), "le", 1.0),
        tgt("failed requests when the primary is killed", dig(sc, "kill", "worker", "failed_requests"),
            "eq", 0, dig(sc, "kill", "classic", "failed_requests")),
        tgt("primary back after heal, worst round (s)",
            dig(sc, "drop", "worker", "primary_back_after_heal_s_max"), "le", 2.0,
            dig(sc, "drop", "classic", "primary_back_after_heal_s_max")),
        tgt("both tunnels back after sshd restart (s)",
            dig(sc, "restart", "worker", "both_back_after_s"), "le", 2.0,
            dig(sc, "restart", "classic", "both_back_after_s")),
        tgt("RSS worker/(autossh+ssh)", dig(sc, "memory", "ratio_rss_worker_classic"), "le", 1.0),
        tgt("private dirty memory worker/(autossh+ssh)",
            dig(sc, "memory", "ratio_private_dirty_worker_classic"), "le", 1.0),
        tgt("memory flat over the idle period", dig(sc, "memory", "worker", "flat"), "eq", True,
            dig(sc, "memory", "classic", "flat")),
    ]
    n = dig(sc, "concurrency", "connections")
    out.append(tgt("concurrent connections served", dig(sc, "concurrency", "worker", "served"),
                   "eq", n, dig(sc, "concurrency", "classic", "served")))
    return out


def version(argv) -> str | None:
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        lines = r.stdout.decode(errors="replace").strip().splitlines()
        return lines[0] if lines else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def file_identity(path: str) -> dict | None:
    import hashlib
    try:
        st = os.stat(path)
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return {"sha256": h.hexdigest()[:16], "size": st.st_size,
                "mtime": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(st.st_mtime))}
    except OSError:
        return None


def worker_usable(path: str) -> tuple[bool, str]:
    if not os.access(path, os.X_OK):
        return False, f"{path} not found or not executable"
    try:
        r = subprocess.run([path, "tunnel", "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    out = r.stdout.decode(errors="replace")
    if r.returncode != 0 or "--name" not in out:
        return False, f"`{path} tunnel --help` has no tunnel sub-command yet (rc {r.returncode})"
    return True, "ok"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--worker", default=DEFAULT_WORKER, help="pvectl-tunnel binary")
    p.add_argument("--worker-arg", action="append", default=[],
                   help="extra argument for `pvectl-tunnel tunnel` (repeatable)")
    p.add_argument("--classic-opt", action="append", default=[],
                   help="extra ssh argument for the classic side (repeatable, e.g. -o ConnectTimeout=5)")
    p.add_argument("--impls", default="auto",
                   help="worker,classic | classic | worker | auto (worker only if its binary works)")
    p.add_argument("--scenarios", default=",".join(ALL_SCENARIOS))
    p.add_argument("--quick", action="store_true", help="small sizes, short runs (CI smoke, ~2 min)")
    p.add_argument("--size-mib", type=int, default=256, help="bulk transfer size")
    p.add_argument("--rounds", type=int, default=3, help="rounds for bulk/wrk/restart (median)")
    p.add_argument("--duration-s", type=int, default=10, help="wrk duration per run")
    p.add_argument("--wrk-connections", type=int, default=64)
    p.add_argument("--wrk-threads", type=int, default=2)
    p.add_argument("--kill-rounds", type=int, default=3)
    p.add_argument("--kill-connections", type=int, default=32)
    p.add_argument("--kill-pre-s", type=float, default=3)
    p.add_argument("--kill-post-s", type=float, default=5)
    p.add_argument("--drop-method", choices=["port", "flow", "sigstop"], default="port",
                   help="port: blackhole the primary's sshd port (link down, reconnects dropped "
                        "too); flow: only the session's TCP flow; sigstop: freeze its sshd session")
    p.add_argument("--drop-s", type=float, default=15,
                   help="how long the primary stays dropped (longer than the VPS sshd's ClientAlive "
                        "reaping, ~interval x (count+1) after the last activity)")
    p.add_argument("--rounds-drop", type=int, default=3)
    p.add_argument("--drop-stagger-s", type=float, default=3.3,
                   help="round i drops for drop-s + i * drop-stagger-s")
    p.add_argument("--drop-keepalive-interval-s", type=int, default=1)
    p.add_argument("--drop-keepalive-count-max", type=int, default=3)
    p.add_argument("--heal-wait-s", type=float, default=60, help="give up waiting for recovery after")
    p.add_argument("--idle-s", type=int, default=60, help="memory scenario idle period")
    p.add_argument("--concurrency", type=int, default=1000)
    p.add_argument("--keepalive-interval-s", type=int, default=10)
    p.add_argument("--keepalive-count-max", type=int, default=3)
    p.add_argument("--client-alive-interval-s", type=int, default=2, help="VPS sshd")
    p.add_argument("--client-alive-count-max", type=int, default=3, help="VPS sshd")
    p.add_argument("--proxy-connect-timeout-s", type=int, default=1, help="VPS nginx")
    p.add_argument("--proxy-read-timeout-s", type=int, default=2, help="VPS nginx")
    p.add_argument("--nginx-workers", type=int, default=1)
    p.add_argument("--probe-interval-s", type=int, default=10, help="worker probe_interval_s")
    p.add_argument("--no-worker-probe", dest="worker_probe", action="store_false")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (configs, logs)")
    p.add_argument("--output", help="also write the JSON here")
    p.add_argument("--check-targets", action="store_true",
                   help="exit 3 when a worker target is missed")
    a = p.parse_args(argv)
    if a.quick:
        given = set(x.split("=")[0] for x in argv if x.startswith("--"))
        for k, v in {"size_mib": 32, "rounds": 1, "duration_s": 3, "kill_rounds": 1,
                     "kill_pre_s": 2, "kill_post_s": 3, "drop_s": 12, "rounds_drop": 1, "idle_s": 10,
                     "heal_wait_s": 30}.items():
            if "--" + k.replace("_", "-") not in given:
                setattr(a, k, v)
    return a


def main(argv) -> int:
    if len(argv) >= 2 and argv[0] == "_sink":
        run_sink(int(argv[1]))
        return 0
    a = parse_args(argv)
    scenarios = [s.strip() for s in a.scenarios.split(",") if s.strip()]
    bad = [s for s in scenarios if s not in SCENARIOS]
    if bad:
        print(f"unknown scenario(s): {bad}; known: {ALL_SCENARIOS}", file=sys.stderr)
        return 2
    for tool in ("ssh", "ssh-keygen", "autossh", "nginx", "wrk", "curl"):
        if not shutil.which(tool):
            print(f"missing tool: {tool} (run bench/tunnel/run.sh to install)", file=sys.stderr)
            return 2
    if not os.path.exists("/usr/sbin/sshd"):
        print("missing /usr/sbin/sshd (openssh-server)", file=sys.stderr)
        return 2
    if "drop" in scenarios and a.drop_method != "sigstop" and not shutil.which("nft"):
        print("missing nft (nftables); use --drop-method sigstop", file=sys.stderr)
        return 2

    a.worker = os.path.abspath(a.worker)
    w_ok, w_why = worker_usable(a.worker)
    if a.impls == "auto":
        impls = ["worker", "classic"] if w_ok else ["classic"]
        if not w_ok:
            log(f"worker not usable ({w_why}): classic side only")
    else:
        impls = [i.strip() for i in a.impls.split(",") if i.strip()]
        if any(i not in ("worker", "classic") for i in impls) or not impls:
            print("--impls: worker and/or classic", file=sys.stderr)
            return 2
        if "worker" in impls and not w_ok:
            print(f"worker not usable: {w_why}", file=sys.stderr)
            return 2

    nofile = raise_nofile()
    subreaper = set_subreaper()
    result = {
        "benchmark": "pvectl-tunnel worker vs autossh + OpenSSH (loopback)",
        "meta": {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "nproc": os.cpu_count(),
            "loadavg_start": os.getloadavg(), "impls": impls, "scenarios": scenarios,
            "worker": a.worker if "worker" in impls else None, "worker_status": w_why,
            "worker_binary": file_identity(a.worker) if "worker" in impls else None,
            "versions": {"worker": version([a.worker, "--version"]) if w_ok else None,
                         "ssh": version(["ssh", "-V"]), "autossh": version(["autossh", "-V"]),
                         "nginx": version(["nginx", "-v"]), "wrk": version(["wrk", "-v"]),
                         "kernel": os.uname().release},
            "ciphers": {"classic": "OpenSSH defaults (9.x: chacha20-poly1305@openssh.com)",
                        "classic_aes128ctr": "-c aes128-ctr -m hmac-sha2-256",
                        "worker": "libssh2 (aes128-ctr + hmac-sha2-256)"},
            "params": {k: v for k, v in vars(a).items() if k not in ("output",)},
            "rlimit_nofile": nofile, "subreaper": subreaper,
        },
        "scenarios": {},
    }

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    env = Env(a)
    rc = 0
    try:
        try:
            env.setup()
        except (SetupError, OSError, subprocess.SubprocessError) as e:
            log(f"setup failed: {e}")
            result["setup_error"] = str(e)
            print(json.dumps(result, indent=2))
            return 2
        for name in scenarios:
            log(f"scenario {name}")
            t0 = time.monotonic()
            try:
                result["scenarios"][name] = SCENARIOS[name](env, impls, a)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # noqa: BLE001 - recorded, next scenario runs
                log(f"scenario {name} failed: {e}")
                result["scenarios"][name] = {"error": f"{type(e).__name__}: {e}",
                                             "traceback": traceback.format_exc()[-3000:]}
                rc = 1
                env.nft_heal()
                if env.sshd is None or env.sshd.poll() is not None:
                    try:
                        env.start_sshd()
                    except SetupError as e2:
                        log(f"cannot restart sshd: {e2}")
            result["scenarios"][name]["elapsed_s"] = round(time.monotonic() - t0, 1)
            env.reap()
        result["meta"]["loadavg_end"] = os.getloadavg()
        result["meta"]["elapsed_s"] = round(time.monotonic() - T_START, 1)
        if "worker" in impls:
            result["targets"] = evaluate_targets(result["scenarios"])
            if a.check_targets and any(t["pass"] is False for t in result["targets"]):
                rc = rc or 3
        text = json.dumps(result, indent=2)
        print(text)
        if a.output:
            with open(a.output, "w") as f:
                f.write(text + "\n")
        return rc
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); cleaning up")
        return 130
    finally:
        env.cleanup()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
