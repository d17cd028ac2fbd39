"""Celery tasks of the governance app. Thin: call the service."""

import logging

from celery import shared_task

from governance.audit_checkpoints import audit_checkpoint

logger = logging.getLogger("airlock.tasks")


@shared_task(name="governance.audit_checkpoint")
def audit_checkpoint_task() -> int:
    """Run by beat every AUDIT_CHECKPOINT_INTERVAL (settings.CELERY_BEAT_SCHEDULE)."""
    try:
        result = audit_checkpoint()
    except Exception:
        logger.exception("audit checkpoint not written")  # next beat tick tries again
        raise
    logger.info("audit checkpoint: %d of %d chain heads to %s", result.written, result.chains, result.path)
    return result.written
