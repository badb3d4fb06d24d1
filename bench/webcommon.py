"""Shared pieces of the web benchmarks: a throwaway Postgres database, the app server
as a subprocess (either mode), a signed-in session over urllib, percentiles, a websocket
client (the `websockets` library), and updating one section of BENCHMARKS.md."""
import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def pg_url(dbname):
    parts = urllib.parse.urlsplit(PG_ADMIN_URL)
    return urllib.parse.urlunsplit(parts._replace(path="/" + dbname))


def recreate_database(dbname, drop_only=False):
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{dbname}"')


def setup_django(database_url, redis_url=""):
    """Configure Django in this process for `database_url` (and Redis when given), migrate."""
    os.environ.update(DJANGO_SETTINGS_MODULE="webapp.settings", DATABASE_URL=database_url,
                      LAB_EXECUTOR="manual", SECRET_KEY=os.environ.get("SECRET_KEY", "bench-secret-key"))
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    else:
        os.environ.pop("REDIS_URL", None)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m webapp.serve` on a free port, against the given database: one uvicorn
    process without `redis_url` (embedded mode), uvicorn with WEB_CONCURRENCY processes
    with it (Redis mode). `extra_env` adds variables (e.g. WEB_CONCURRENCY)."""

    def __init__(self, database_url, redis_url="", log_path=None, extra_env=None):
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL",)}
        env.update(DATABASE_URL=database_url, PORT=str(self.port), LAB_EXECUTOR="manual", PYTHONPATH=str(ROOT),
                   DJANGO_SETTINGS_MODULE="webapp.settings", SECRET_KEY=env.get("SECRET_KEY", "bench-secret-key"),
                   LOG_LEVEL="WARNING")
        env.update({k: str(v) for k, v in (extra_env or {}).items()})
        if redis_url:
            env["REDIS_URL"] = redis_url
        self.log = open(log_path or os.devnull, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "webapp.serve"], cwd=ROOT, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the app server exited")
            try:
                urllib.request.urlopen(self.base + "/accounts/login/", timeout=2)
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("the app server did not come up")

    def processes(self):
        """pids of the server process and the worker processes it spawned (Linux /proc)."""
        pids = [self.proc.pid]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                cmdline = (stat.parent / "cmdline").read_bytes()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.proc.pid and b"spawn_main" in cmdline:
                pids.append(int(stat.parent.name))
        return pids

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def login(base, username, password):
    """Sign in through the login form; returns the Cookie header value of the session."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = opener.open(base + "/accounts/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    data = urllib.parse.urlencode({"username": username, "password": password,
                                   "csrfmiddlewaretoken": token}).encode()
    opener.open(urllib.request.Request(base + "/accounts/login/", data=data, headers={"Referer": base + "/"}))
    cookies = {c.name: c.value for c in jar}
    if "sessionid" not in cookies:
        raise RuntimeError("sign-in failed")
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def percentile(values, q):
    values = sorted(values)
    if not values:
        return None
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


class WebSocket:
    """A benchmark's websocket client: the `websockets` library's synchronous client (pinned in
    requirements.txt), with JSON in and out and TCP_NODELAY on (latency is what is measured)."""

    def __init__(self, host, port, path, cookie, origin):
        from websockets.sync.client import connect

        self.conn = connect(f"ws://{host}:{port}{path}", origin=origin, additional_headers={"Cookie": cookie},
                            open_timeout=30, compression=None)
        self.conn.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send_json(self, obj):
        self.conn.send(json.dumps(obj))

    def receive_json(self, timeout=30):
        return json.loads(self.conn.recv(timeout=timeout))

    def close(self):
        self.conn.close()


def update_benchmarks_md(title, body):
    """Replace (or append) the `## {title}` section of BENCHMARKS.md; other sections stay."""
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda m: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)
