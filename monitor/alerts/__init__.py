"""From a matched article to a chat message: composing the channel-neutral alert
(compose.py: types.Alert), routing to chats and per-chat policy (routing.py, policy.py:
quiet hours, bursts, digests), the outbox drain (deliver.py) and the channels (notify.py:
Telegram, console), each rendering the outbox's messages in its own format at send time
(render.py, digest.py: Telegram HTML; the console: plain text).

May import: ingest, rules, stories, archive, config, types, errors. Start at routing.py
(which chats get an article), then deliver.py. A new channel (e-mail, a webhook) is one
module with a class of notify.Notifier's five methods, and its line in app.py.
"""

import sys


def _import_telegram() -> None:
    """python-telegram-bot, imported first here (before notify.py's and chat/bot.py's imports of it),
    without `cryptography`: PTB imports it when it is installed (as it is for the tests' TLS
    certificates) only to decrypt Telegram Passport data, which monitor never asks for; about
    8 MB in the service (issue 18). Its imports are in try blocks that begin with
    `cryptography.hazmat.backends`: refused (None in sys.modules) while telegram imports, then
    allowed again, so cryptography itself still imports for anyone else."""
    if "telegram" in sys.modules:
        return
    refused = "cryptography.hazmat.backends"
    refusing = refused not in sys.modules
    if refusing:
        sys.modules[refused] = None  # type: ignore[assignment]
    try:
        import telegram._bot  # noqa: F401
        import telegram._passport.credentials  # noqa: F401
    finally:
        if refusing and sys.modules.get(refused, False) is None:
            del sys.modules[refused]


_import_telegram()
