"""The Telegram bot's side that talks back: commands.py (/status, /search, /rules, /mute, …:
handlers and their replies) and bot.py (the python-telegram-bot Application around them).

May import: service, alerts, archive, rules, config, types, errors. Start at commands.py; a
new command is a handler there and a line in bot.py's list.
"""

import monitor.alerts.notify  # noqa: F401 (python-telegram-bot imported first its way: alerts.import_telegram)
