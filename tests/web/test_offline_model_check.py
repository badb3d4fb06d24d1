"""A hub id that is not on this machine, checked while the hub cannot be reached (offline
mode, or no answer), fails at once with a clear message on the model field instead of
retrying for about 25 s: one quick look at the hub per check, then the offline message.
No external host is contacted: the hub address (HF_ENDPOINT) points at local ports."""
import http.server
import socket
import threading
import uuid

import pytest

from webapp.lab.models import Experiment
from workers.engine import model_info
from workers.engine.errors import ModelLoadError

from .conftest import experiment_post

OFFLINE = "the Hugging Face hub cannot be reached from this machine"


@pytest.fixture(autouse=True)
def _fresh_hub_state(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(model_info, "_hub_down_until", {})
    # huggingface_hub asks the address it read at import (the real hub) for a list of agents
    # the first time it builds request headers: not from a test
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    # and no test here looks up any other host than this machine
    looked_up, real = [], socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        looked_up.append(host)
        if host not in ("127.0.0.1", "localhost"):
            raise socket.gaierror(socket.EAI_NONAME, f"test: {host} is not contacted")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
    assert set(looked_up) <= {"127.0.0.1", "localhost"}, looked_up


def _hub_id():
    return f"nobody/not-on-this-machine-{uuid.uuid4().hex[:8]}"


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


class HangUpServer:
    """Accepts connections and closes them without answering; counts them."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def hang_up(monkeypatch):
    server = HangUpServer()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    yield server
    server.close()


def test_a_closed_hub_port_gives_the_offline_message(monkeypatch):
    url = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", url)
    with pytest.raises(ModelLoadError) as err:
        model_info.load_light(_hub_id())
    assert OFFLINE in str(err.value) and "pass its local directory" in str(err.value)
    assert f"{url} did not answer" in str(err.value)


def test_one_look_at_the_hub_and_no_retries(hang_up):
    with pytest.raises(ModelLoadError) as err:
        model_info.load_light(_hub_id())
    assert OFFLINE in str(err.value)
    assert hang_up.connections == 1  # huggingface_hub alone retries 5 times with back-off
    with pytest.raises(ModelLoadError) as err:  # another file, or another check moments later
        model_info.load_light(_hub_id())
    assert OFFLINE in str(err.value) and hang_up.connections == 1


def test_offline_mode_asks_the_hub_nothing(hang_up, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as err:
        model_info.load_light(_hub_id())
    assert OFFLINE in str(err.value) and "HF_HUB_OFFLINE is set" in str(err.value)
    assert hang_up.connections == 0


def test_a_hub_that_answers_is_believed(monkeypatch):
    class NoSuchRepo(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):  # what the hub says for an unknown repository
            self.send_response(404)
            self.send_header("X-Error-Code", "RepoNotFound")
            self.send_header("X-Error-Message", "Repository not found")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_HEAD

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NoSuchRepo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        with pytest.raises(ModelLoadError) as err:
            model_info.load_light(_hub_id())
    finally:
        server.shutdown()
        server.server_close()
    assert "no such model on the Hugging Face hub" in str(err.value) and OFFLINE not in str(err.value)


@pytest.mark.django_db
@pytest.mark.parametrize("offline_mode", [False, True])
def test_the_experiment_form_names_the_model_field(client_in, task, hang_up, monkeypatch, offline_mode):
    if offline_mode:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = _hub_id()
    resp = client_in.post("/experiments/new/", experiment_post(task, model_name=model))
    assert resp.status_code == 200 and not Experiment.objects.exists()
    errors = resp.context["form"].errors
    assert list(errors) == ["model_name"], errors
    (message,) = errors["model_name"]
    # the one model message (it never says whether a server path exists) plus the hub's state
    assert f"'{model}' cannot be loaded on this server" in message and OFFLINE in message
    assert message in resp.content.decode().replace("&#x27;", "'")
    # the whole check (readability of the task, then the engine's validation) looked once at most
    assert hang_up.connections == (0 if offline_mode else 1)
