"""Fault test of crash-proof dispatch: the web server (`python -m webapp.serve`, Redis mode)
is killed with SIGKILL while it sends the runs of a large launch to the broker. Nothing
was running then; once a Celery worker and the scheduler (Celery beat + the periodic
pass, which sweeps the dispatch outbox) are up, every run of the experiment ends done or
visibly failed within a minute. Before the outbox, the runs the dead process had not
sent stayed "queued" forever."""
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest
from django.db.models import Count

from webapp.lab.models import Experiment, Run, Task
from webapp.lab.services.dispatch import pending

from .conftest import experiment_post
from .live import REDIS_URL, ROOT, free_port, service_env, wait_for
from .test_celery_worker import _start_worker, redis_mode  # noqa: F401 - the fixture

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _opener(client, base):
    """urllib opener carrying the test client's session cookie (and then the server's CSRF
    cookie) to the live server."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("Cookie", f"sessionid={client.cookies['sessionid'].value}")]
    opener.jar = jar
    return opener


def _cookie_header(client, opener):
    cookies = {c.name: c.value for c in opener.jar}
    cookies["sessionid"] = client.cookies["sessionid"].value
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def test_web_server_killed_mid_launch_loses_no_run(redis_mode, client, user, settings, tmp_path):
    client.force_login(user)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = service_env(DATABASE_URL=redis_mode["db_url"], REDIS_URL=REDIS_URL, LAB_EXECUTOR="celery", PORT=port,
                      WEB_CONCURRENCY=1, LAB_VAR_DIR=tmp_path / "var", MEDIA_ROOT=tmp_path / "media",
                      SECRET_KEY=settings.SECRET_KEY)
    log = open(tmp_path / "server.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "webapp.serve"], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    opener = _opener(client, base)
    try:
        def up():
            if server.poll() is not None:
                raise AssertionError((tmp_path / "server.log").read_text()[-3000:])
            try:
                return opener.open(base + "/experiments/new/", timeout=5).read().decode()
            except OSError:
                return False

        form_page = wait_for(up, 90, interval=0.3, what="the app server")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form_page).group(1)
        task = Task.objects.get(name="animal-or-fruit")
        # 2 methods x 4 N x 10 seeds = 80 cheap runs (no training, 4 evaluation queries)
        data = experiment_post(task, methods=["base", "icl"], n_values="1,2,3,4", seeds=10, eval_size=4,
                               similarity_size=0)
        data["csrfmiddlewaretoken"] = token
        body = urllib.parse.urlencode(data, doseq=True).encode()
        request = urllib.request.Request(base + "/experiments/new/", data=body,
                                         headers={"Referer": base + "/experiments/new/", "Origin": base,
                                                  "Cookie": _cookie_header(client, opener)})
        answer = []
        threading.Thread(target=lambda: _ignore_errors(answer, urllib.request.urlopen, request, timeout=60), daemon=True).start()

        # the moment the launch's transaction is visible, the server is sending: kill it there
        wait_for(lambda: Run.objects.exists() or answer, 60, interval=0.002, what="the launch to commit")
        assert not answer, answer[0][-3000:]  # the server answered before any run was committed
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
        log.close()
    exp = Experiment.objects.get()
    total, unsent = exp.runs.count(), pending().count()
    assert total == 80
    assert unsent > 0, "the kill came after every run was sent: the test did not hit the window"

    worker = _start_worker(redis_mode, name="worker", env_extra={"LAB_DISPATCH_GRACE": 1})
    scheduler = _start_worker(redis_mode, name="scheduler", queue="maintenance", beat=True,
                              env_extra={"LAB_DISPATCH_GRACE": 1})
    available = time.monotonic()
    try:
        wait_for(lambda: not exp.runs.exclude(state__in=Run.FINAL_STATES).exists(), 60, interval=0.5,
                 what=f"every run to end ({pending().count()} unsent, states "
                      f"{sorted(exp.runs.values_list('state', flat=True).distinct())}); worker log:\n"
                      f"{worker.log()[-1500:]}")
    finally:
        worker.stop()
        scheduler.stop()
    took = time.monotonic() - available
    states = dict(exp.runs.order_by().values_list("state").annotate(c=Count("id")))
    print(f"killed with {unsent}/{total} runs unsent; all ended {took:.1f} s after a worker was available: {states}")
    assert set(states) <= {Run.DONE, Run.FAILED}
    assert all(r.error for r in exp.runs.filter(state=Run.FAILED))
    assert exp.runs.filter(state=Run.DONE, attempts=1).count() == states.get(Run.DONE, 0)  # each executed once


def _ignore_errors(answer, fn, *args, **kw):
    try:
        body = fn(*args, **kw).read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        body = f"HTTP {exc.code}: " + exc.read().decode(errors="replace")
    except Exception:  # the server was killed mid-request
        return
    if not Run.objects.exists():
        answer.append(body)
