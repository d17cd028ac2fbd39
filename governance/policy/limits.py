"""The bounds on an envelope (plain Python, no Django). Applying an envelope is a staff action,
but a staff account can be phished and an envelope file can come from a pull request: no
envelope may cost the web process more than a moment of CPU, or make a later decision fail.
Documented in README.md ("Limits on an envelope")."""

# The YAML text, in UTF-8 bytes. The largest example envelope is under 2 KB; PyYAML's
# pure-Python parser (the one that can be bounded while it composes) needs ~1 s per 30 KB
# on a busy machine.
MAX_ENVELOPE_BYTES = 64 * 1024
# Mappings and lists inside one another (an envelope's own shape needs 5; params_schema more).
MAX_DEPTH = 32
# Values in the parsed document (every scalar, list and mapping counts once).
MAX_NODES = 10_000

# A CEL condition: its length in characters, and how deeply its operators and brackets nest
# (an estimate from the text that is never below the depth of the parsed expression). The
# Rust CEL library recurses over the expression: a few thousand chained operators overflow
# the stack of a web worker thread and kill the whole process.
MAX_CEL_LENGTH = 4096
MAX_CEL_DEPTH = 100

DAY = 86400
# Durations, in seconds. An escalation answered after a week is no longer an answer; windows
# longer than a quarter are history, not rate limits (and cost the database a long scan).
MAX_ESCALATION_TTL = 7 * DAY
MAX_WINDOW = 90 * DAY
