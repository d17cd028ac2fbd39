"""The Slack app manifest and the setup guide match what the code needs."""

from pathlib import Path
from urllib.parse import urlparse

import yaml
from django.urls import resolve

from integrations.slack import views

ROOT = Path(__file__).resolve().parents[3]


def test_manifest_asks_for_the_scopes_and_interactivity_airlock_uses():
    manifest = yaml.safe_load((ROOT / "docs" / "slack-app-manifest.yaml").read_text())

    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == ["chat:write", "users:read", "users:read.email"]
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    url = urlparse(interactivity["request_url"])
    assert (url.scheme, url.netloc) == ("https", "YOUR-HOST")
    assert resolve(url.path).func is views.interactions


def test_guide_documents_every_slack_setting():
    guide = (ROOT / "docs" / "slack.md").read_text()
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_CHANNEL", "SLACK_API_URL", "SLACK_TIMEOUT",
                 "slack_channel", "--slack-id", "slack-app-manifest.yaml", "/slack/interactions/"):
        assert name in guide, name
