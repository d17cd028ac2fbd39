"""Admin UI views, one module per page family."""
