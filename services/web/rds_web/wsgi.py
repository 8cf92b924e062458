"""gunicorn entry point: ``gunicorn -k gthread rds_web.wsgi:app``."""
from rds_web import create_app

app = create_app()
