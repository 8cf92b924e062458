"""gunicorn's settings for the web process, from the ``RDS_*`` settings.

    gunicorn -c python:rds_web.gunicorn_conf -b 127.0.0.1:8000 rds_web.wsgi:app

Each open page holds one thread of a worker while its live-update stream is
open (server-sent events under ``gthread``), so every worker runs
``RDS_UI_MAX_STREAMS`` threads for streams plus ``RDS_WEB_REQUEST_THREADS``
for everything else: a full house of streams never leaves ordinary requests
without a thread. Streams hold no database connection (one change reader per
worker reads the feed for all of them), so the thread count does not size
the database pool. Flags given on the command line override these values.

Once a worker has loaded the app, the objects it holds for its lifetime
(modules, mappers, compiled templates) are moved out of the garbage
collector's sight (``gc.freeze``): full collections, which a request that
builds a few thousand objects triggers, no longer walk them every time
(about a fifth of the CPU of a 500-release API list).
"""
import gc

from rds_settings import get_settings

_settings = get_settings()

worker_class = "gthread"
workers = _settings.web_workers
threads = _settings.ui_max_streams + _settings.web_request_threads
#: Longer than the API's longest long-poll (60 s).
timeout = 120


def post_worker_init(worker: object) -> None:
    """After the worker loaded the app: collect once, then freeze what survived."""
    gc.collect()
    gc.freeze()
