"""python-telegram-bot, imported without `cryptography` (issue 18): imported by notify.py before
its own imports of telegram (app.py imports notify.py before chat/bot.py)."""

import sys


def import_telegram() -> None:
    """python-telegram-bot without `cryptography`: PTB imports it when it is installed (as it is
    for the tests' TLS certificates) only to decrypt Telegram Passport data, which monitor never asks for;
    about 8 MB in the service (issue 18). Its imports are in try blocks that begin with
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


import_telegram()
