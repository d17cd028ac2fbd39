import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "airlock.settings")
application = get_wsgi_application()

from api.body_limit import BodyLimitWSGI  # noqa: E402

# Body limits enforced while reading, chunked or not (api/body_limit.py).
application = BodyLimitWSGI(application)
