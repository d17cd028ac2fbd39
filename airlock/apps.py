from django.apps import AppConfig


class AirlockConfig(AppConfig):
    """The project package as an app, for what belongs to the whole site rather than to one
    interface: login throttling (django-axes) on /accounts/login/."""

    name = "airlock"
    verbose_name = "Airlock"

    def ready(self) -> None:
        from airlock.login_throttle import connect

        connect()
