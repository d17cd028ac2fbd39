"""Small helpers with no domain knowledge, for every layer. Imports nothing of the project."""
