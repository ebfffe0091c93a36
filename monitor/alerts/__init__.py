"""From a matched article to a chat message: composing the channel-neutral alert
(compose.py: types.Alert), routing to chats and per-chat policy (routing.py, policy.py:
quiet hours, bursts, digests), the outbox drain (deliver.py) and the channels (notify.py:
Telegram, console), each rendering the outbox's messages in its own format at send time
(render.py, digest.py: Telegram HTML; the console: plain text).

May import: ingest, rules, stories, archive, config, types, errors. Start at routing.py
(which chats get an article), then deliver.py. A new channel (e-mail, a webhook) is one
module with a class of notify.Notifier's five methods, and its line in app.py.
"""
