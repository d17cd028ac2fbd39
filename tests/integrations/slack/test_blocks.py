"""Block Kit helpers: escaping, date tokens, sizes."""

from datetime import UTC, datetime

from integrations.slack.blocks import code, cut, escape, slack_date


def test_escape_neutralises_slack_control_characters():
    assert escape("<!here> & <@U1|x>") == "&lt;!here&gt; &amp; &lt;@U1|x&gt;"


def test_code_span_cannot_be_broken_out_of():
    assert code("a`b <c>") == "`a'b &lt;c&gt;`"
    assert code("") == "—"


def test_slack_date_token_has_unix_time_format_and_utc_fallback():
    moment = datetime(2026, 11, 21, 10, 15, tzinfo=UTC)
    assert slack_date(moment) == "<!date^1795256100^{date_short_pretty} {time}|2026-11-21 10:15 UTC>"


def test_cut_marks_what_it_drops():
    assert cut("abcdef", 4) == "abc…" and cut("abc", 4) == "abc"
