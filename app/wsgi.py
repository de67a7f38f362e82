"""The WSGI entry point: ``gunicorn -c config/gunicorn.conf.py app.wsgi:app``.

Settings come from the DIWAN_* environment (config/production.example.env), as for every other
``diwan`` command.
"""

from app import create_app

app = create_app()
