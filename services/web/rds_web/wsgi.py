"""gunicorn entry point: ``gunicorn -c python:rds_web.gunicorn_conf rds_web.wsgi:app``."""
from rds_web import create_app

app = create_app()
