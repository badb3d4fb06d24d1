"""`python -m webapp.serve` (what `make run` runs): migrate, load built-in tasks, ensure
the demo user, start the in-process worker in embedded mode, then serve with daphne
on 127.0.0.1:$PORT."""
import os
import sys


def prepare():
    """Everything the first run needs; safe to repeat."""
    import django
    from django.core.management import call_command

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("load_builtin_tasks")
    call_command("ensure_demo_user")


def main(argv=None):
    prepare()
    from django.conf import settings

    host = os.environ.get("HOST", "127.0.0.1")
    port = int(settings.PORT)
    if settings.LAB_EXECUTOR == "thread":
        from webapp.lab.services.embedded_worker import start

        start(recover=True)
        mode = "embedded mode: in-process worker, in-memory channel layer"
    else:
        mode = f"Redis mode: start workers with `make worker` (executor={settings.LAB_EXECUTOR})"
    from daphne.endpoints import build_endpoint_description_strings
    from daphne.server import Server

    from webapp.asgi import application

    password_hint = "the DEMO_PASSWORD you set" if os.environ.get("DEMO_PASSWORD") else "demo"
    print(f"\n  ICL/SFT/IA2 lab: http://{host}:{port}/\n  sign in as demo / {password_hint} "
          f"(or sign up)\n  {mode}\n", flush=True)
    Server(
        application=application,
        endpoints=build_endpoint_description_strings(host=host, port=port),
        signal_handlers=True,
        websocket_timeout=86400,
    ).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
