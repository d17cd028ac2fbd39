"""A test-only channel written against the registry, as an email or Teams channel would be:
this folder plus one line in integrations.registry.CHANNELS, and no edit to the domain.

It hears escalation events (like Slack posting a message) and takes votes inbound (like a
Slack click), recording them through approvals.services.approval_decide with via="echo"."""
