"""Loopback stand-ins for the outside world, shared by tests/ and bench/ (neither imports the other).

* ``fakes.feed_server.FeedServer``: the one fake feed server: a real HTTP/1.1 server on 127.0.0.1
  (HTTPS on request, several loopback hosts on one port on request) with ETag/Last-Modified,
  304s, and misbehaviour on demand (hangs, drips, resets, bombs). bench/farm.py serves its
  generated feeds through it.
* ``fakes.telegram_api.FakeTelegramAPI``: a fake Telegram Bot API that python-telegram-bot really
  talks to, and that rejects what Telegram rejects.

They import nothing from monitor, tests or bench, and not pytest: the fixtures that start them
are in tests/conftest.py. ``monitor demo`` ships its own tiny server (monitor/cli/demo.py), since
the wheel holds only ``monitor``.
"""
