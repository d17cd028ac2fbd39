"""EMAIL_URL -> Django's SMTP settings. No domain knowledge; used by settings.py."""

from urllib.parse import unquote, urlsplit

SCHEMES = {"smtp": (False, False), "smtp+tls": (True, False), "smtps": (False, True)}


def email_settings(url: str) -> dict:
    """smtp://[user:password@]host[:port] (port 25; smtp+tls:// 587 with STARTTLS; smtps:// 465
    with implicit TLS). Raises ValueError on anything else."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"bad port: {exc}") from None
    use_tls, use_ssl = SCHEMES[parts.scheme]
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port or (465 if use_ssl else 587 if use_tls else 25),
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": use_tls,
        "EMAIL_USE_SSL": use_ssl,
    }
