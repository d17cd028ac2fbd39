"""Settings the benchmarks load themselves (DJANGO_SETTINGS_MODULE=bench.settings): the
product's settings plus bench's URLconf (the bare baseline endpoint) and the bench app (the
seed_scale command). Production never loads this module; nothing in the product imports bench."""

from airlock.settings import *  # noqa: F403
from airlock.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
ROOT_URLCONF = "bench.urls"
