"""The admins' web UI (SPEC §7): agents, envelope editor with diff and replay preview, audit
trail, anomalies and a dashboard. Mounted at /admin/; Django's own admin lives at /django-admin/."""
