from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        # Bind @shared_task to our Celery app. Not in governance/__init__.py, so that the
        # policy engine (governance.policy) can be imported without Django or Celery.
        from governance.celery import app  # noqa: F401
        from governance.login_throttle import connect

        connect()
