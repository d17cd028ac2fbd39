"""The envelope editor's replay preview: the shared replay lives in governance/replay.py."""

from governance.replay import MAX_LISTED, MAX_REPLAYED, ReplayResult, replay_preview

__all__ = ["MAX_LISTED", "MAX_REPLAYED", "ReplayResult", "replay_preview"]
