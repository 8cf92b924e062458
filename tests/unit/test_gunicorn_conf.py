"""gunicorn's settings come from the RDS_* settings: a worker has a thread per stream and more."""
import importlib

import pytest

from rds_settings import get_settings


@pytest.fixture
def conf(monkeypatch):
    def load(**environ):
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        import rds_web.gunicorn_conf as module
        return importlib.reload(module)
    yield load
    get_settings.cache_clear()


def test_every_stream_has_a_thread_beside_those_for_requests(conf):
    module = conf()
    assert module.worker_class == "gthread"
    assert module.threads == get_settings().ui_max_streams + get_settings().web_request_threads
    assert get_settings().ui_max_streams >= 100  # 100 live pages per web process by default
    module = conf(RDS_UI_MAX_STREAMS="7", RDS_WEB_REQUEST_THREADS="3", RDS_WEB_WORKERS="5")
    assert (module.threads, module.workers) == (10, 5)
    assert module.timeout > 60  # longer than the API's longest long-poll
