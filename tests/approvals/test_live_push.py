"""Live-queue pushes from sync code (web workers, Celery) go through one event loop per
process, so the channel layer's Redis connection is reused instead of opened per push."""

import asyncio

from channels.layers import get_channel_layer

from webqueue import live


def test_pushes_reach_the_group_through_one_reused_loop(redis_url):
    layer = get_channel_layer()
    channel = asyncio.run_coroutine_threadsafe(layer.new_channel(), live._push_loop()).result(5)
    asyncio.run_coroutine_threadsafe(layer.group_add(live.QUEUE_GROUP, channel), live._push_loop()).result(5)
    try:
        live.broadcast("opened", request_id="r-1")
        loop = live._push_loop()
        live.broadcast("resolved", request_id="r-1")
        assert live._push_loop() is loop
        got = [asyncio.run_coroutine_threadsafe(layer.receive(channel), loop).result(5) for _ in range(2)]
        assert [(m["event"], m["request_id"]) for m in got] == [("opened", "r-1"), ("resolved", "r-1")]
    finally:
        asyncio.run_coroutine_threadsafe(layer.group_discard(live.QUEUE_GROUP, channel), live._push_loop()).result(5)


def test_a_forked_child_starts_its_own_loop(redis_url, monkeypatch):
    loop = live._push_loop()
    monkeypatch.setattr(live.os, "getpid", lambda: -1)
    assert live._push_loop() is not loop


def test_an_unreachable_redis_is_logged_not_raised(settings, caplog):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}}
    from channels.layers import channel_layers

    channel_layers.backends.pop("default", None)
    try:
        live.broadcast("opened", request_id="r-2")
    finally:
        channel_layers.backends.pop("default", None)
    assert "live queue push opened failed" in caplog.text
