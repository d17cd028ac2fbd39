"""Slack integration: escalations posted with Approve / Deny buttons, clicks recorded through
the same decision service as the web, messages kept in step with every resolution."""
