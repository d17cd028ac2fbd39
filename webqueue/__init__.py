"""The approvers' live web queue: HTMX pages, the Channels consumer, live pushes."""
