"""The server: the composition root and the process around it.

:mod:`.app` builds the Flask application and every shared object once per
worker; :mod:`.serving` and :mod:`.gunicorn_config` run it under gunicorn;
:mod:`.lifecycle` drains it on SIGTERM; :mod:`.safety` refuses an unsafe
configuration at startup.
"""
