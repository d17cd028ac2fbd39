from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Installed only by bench/settings.py: the seed_scale command for the scale benchmarks."""

    name = "bench"
    verbose_name = "Benchmarks"
