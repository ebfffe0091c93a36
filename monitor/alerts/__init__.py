"""From a matched article to a chat message: rendering (render.py: Telegram HTML), routing to
chats and per-chat policy (routing.py, policy.py: quiet hours, bursts, digests), digests
(digest.py), the outbox drain (deliver.py) and notifiers (notify.py: Telegram, console).

May import: ingest, rules, stories, archive, config, types, errors. Start at routing.py
(which chats get an article), then deliver.py. A new channel is a notifier in notify.py's
protocol.
"""
