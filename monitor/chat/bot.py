"""Commands from the chat: python-telegram-bot's Application inside `monitor run`.

The Application shares the notifier's Bot and its JobQueue's APScheduler
scheduler runs the service's jobs too, so one loop and one scheduler drive
polling, delivery, digests and commands. It long-polls getUpdates; a command
is answered only from a user in ``[telegram] allowed_users``, and in a group
only when the group is one the monitor sends to. Everyone else gets no data
(a private chat is told its ids, so the operator can add them) and the
attempt is logged.

Telegram unreachable at start is not fatal: the service polls feeds and keeps
alerts in the outbox while the Application is started again with backoff.
The replies themselves are rendered by commands.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from telegram import BotCommand, ChatMemberUpdated, LinkPreviewOptions, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, ChatMemberHandler, CommandHandler, ContextTypes, JobQueue

from monitor.alerts.notify import TelegramNotifier
from monitor.alerts.routing import chats_for
from monitor.chat import commands, stories
from monitor.service.scheduler import Service

log = logging.getLogger("monitor.bot")

POLL_TIMEOUT = 30.0  # seconds a getUpdates long poll waits for a command
START_RETRY = (5.0, 300.0)  # first and longest wait between attempts to start
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
Handler = Callable[[str, str, datetime], Awaitable[str | None]]


def build_application(notifier: TelegramNotifier) -> Application[Any, Any, Any, Any, Any, Any]:
    """An Application on the notifier's Bot with a JobQueue (whose scheduler the service uses)."""
    return Application.builder().bot(notifier.bot).job_queue(JobQueue()).build()


class ChatBot:
    """Answers chat commands for a running Service; start() and stop() around Service.run."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        notifier: TelegramNotifier,
        service: Service,
        *,
        poll_timeout: float | None = None,
        retry: tuple[float, float] | None = None,
    ) -> None:
        self.application = application
        self.notifier = notifier
        self.service = service
        self.poll_timeout = POLL_TIMEOUT if poll_timeout is None else poll_timeout
        self.retry = retry or START_RETRY
        self._starting: asyncio.Task[None] | None = None
        handlers: dict[str, Handler] = {
            "start": self._help,
            "help": self._help,
            "status": self._status,
            "search": self._search,
            "rules": self._rules,
            "mute": self._mute,
            "unmute": self._unmute,
            "digest": self._digest,
            "story": self._story,
            "split": self._split,
        }
        for name, handler in handlers.items():
            application.add_handler(CommandHandler(name, self._guard(name, handler)))
        application.add_handler(ChatMemberHandler(self._membership, ChatMemberHandler.MY_CHAT_MEMBER))
        application.add_error_handler(self._on_error)

    @property
    def scheduler(self) -> Any:
        """The APScheduler scheduler of the Application's JobQueue, for Service.run."""
        job_queue = self.application.job_queue
        assert job_queue is not None  # build_application always gives one
        return job_queue.scheduler

    # --- lifecycle --------------------------------------------------------

    def start(self) -> None:
        """Start answering commands in the background; retries while Telegram is unreachable."""
        self._starting = asyncio.ensure_future(self._start_until_up())

    async def _start_until_up(self) -> None:
        wait, longest = self.retry
        while True:
            try:
                await self._start_once()
                return
            except TelegramError as error:
                log.warning(
                    "event=commands_unavailable error=%r retry_in=%ss", str(self.notifier.wrap(error)), wait
                )
            await asyncio.sleep(wait)
            wait = min(wait * 2, longest)

    async def _start_once(self) -> None:
        app = self.application
        await app.initialize()
        if not app.running:
            await app.start()
        updater = app.updater
        if updater is not None and not updater.running:
            await updater.start_polling(
                timeout=timedelta(seconds=self.poll_timeout),
                poll_interval=0.0,
                allowed_updates=["message", "my_chat_member"],
                error_callback=self._polling_error,
            )
        try:
            await app.bot.set_my_commands([BotCommand(c, d) for c, d in commands.COMMANDS])
        except TelegramError as error:
            log.warning("event=set_commands_failed error=%r", str(self.notifier.wrap(error)))
        log.info("event=commands_ready users=%d", len(self.service.pipeline.config.telegram.allowed_users))

    async def stop(self) -> None:
        """Stop polling for commands (before the service stops), then the Application."""
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            await asyncio.gather(self._starting, return_exceptions=True)
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()

    def _polling_error(self, error: TelegramError) -> None:
        log.warning("event=command_polling_error error=%r", str(self.notifier.wrap(error)))

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        if isinstance(error, TelegramError):
            log.warning("event=command_reply_failed error=%r", str(self.notifier.wrap(error)))
        else:
            log.error("event=command_crash error=%r", f"{type(error).__name__}: {error}")

    # --- who may ask ------------------------------------------------------

    def allowed(self, update: Update) -> bool:
        """A user on the allow-list, in a private chat or in a chat the monitor sends to."""
        user, chat = update.effective_user, update.effective_chat
        config = self.service.pipeline.config
        if user is None or chat is None or user.id not in config.telegram.allowed_users:
            return False
        return chat.type == ChatType.PRIVATE or str(chat.id) in self._alert_chats()

    def _alert_chats(self) -> set[str]:
        p = self.service.pipeline
        wanted = {c.id for c in p.config.chats} | {p.config.telegram.chat_id or ""}
        for rule in p.rules.rules:
            wanted.update(chats_for(rule, p.config))
        return wanted | {p.archive.current_chat_id(c) for c in wanted if c}

    def _guard(self, name: str, handler: Handler) -> Callable[[Update, Any], Coroutine[Any, Any, None]]:
        async def answer(update: Update, context: Any) -> None:
            message, chat, user = update.effective_message, update.effective_chat, update.effective_user
            if message is None or chat is None:
                return
            chat_id = str(chat.id)
            if not self.allowed(update):
                log.warning(
                    "event=command_refused command=/%s user=%s chat=%s chat_type=%s",
                    name,
                    user.id if user else None,
                    chat_id,
                    chat.type,
                )
                if chat.type == ChatType.PRIVATE:
                    await self._reply(chat_id, commands.refusal_text(user.id if user else None, chat.id))
                return
            log.info("event=command command=/%s user=%s chat=%s", name, user.id if user else None, chat_id)
            if self.service.pipeline.archive.enable_chat(chat_id, self.service.clock()):
                log.info("event=chat_enabled chat=%s why=%r", chat_id, "a command came from it")
            args = (message.text or "").partition(" ")[2].strip()
            reply = await handler(chat_id, args, self.service.clock())
            if reply:
                await self._reply(chat_id, reply)

        return answer

    async def _reply(self, chat_id: str, html: str) -> None:
        await self.application.bot.send_message(
            chat_id, html, parse_mode=ParseMode.HTML, link_preview_options=_NO_PREVIEW
        )

    async def _membership(self, update: Update, context: Any) -> None:
        """Removed from a chat: disable it now; added back: send to it again."""
        change: ChatMemberUpdated | None = update.my_chat_member
        if change is None:
            return
        chat_id, now = str(change.chat.id), self.service.clock()
        archive = self.service.pipeline.archive
        status = change.new_chat_member.status
        if status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED):
            if chat_id in self._alert_chats():
                archive.disable_chat(chat_id, f"the bot was removed from the chat ({status})", now)
                log.error("event=chat_disabled chat=%s reason=%r", chat_id, f"bot {status}")
        elif archive.enable_chat(chat_id, now):
            log.info("event=chat_enabled chat=%s why=%r", chat_id, f"bot is {status} again")

    # --- the commands -----------------------------------------------------

    async def _help(self, chat_id: str, args: str, now: datetime) -> str:
        return commands.help_text(self.service.pipeline.rules)

    async def _status(self, chat_id: str, args: str, now: datetime) -> str:
        s = self.service
        info = commands.ServiceInfo(
            last_pass=s.last_pass, passes=s.passes, started=s.started or now, backfilled=s.backfilled
        )
        return commands.status_text(s.pipeline.archive, s.pipeline.config, info, now)

    async def _search(self, chat_id: str, args: str, now: datetime) -> str:
        p = self.service.pipeline
        return commands.search_text(p.archive, args, now, rules=p.rules)

    async def _rules(self, chat_id: str, args: str, now: datetime) -> str:
        p = self.service.pipeline
        return commands.rules_text(p.archive, p.rules, p.config, chat_id, now)

    async def _mute(self, chat_id: str, args: str, now: datetime) -> str:
        p = self.service.pipeline
        return commands.mute_text(p.archive, p.rules, chat_id, args, now)

    async def _unmute(self, chat_id: str, args: str, now: datetime) -> str:
        p = self.service.pipeline
        return commands.unmute_text(p.archive, p.rules, chat_id, args, now)

    async def _story(self, chat_id: str, args: str, now: datetime) -> str:
        return stories.story_text(self.service.pipeline.archive, args)

    async def _split(self, chat_id: str, args: str, now: datetime) -> str:
        p = self.service.pipeline
        return stories.split_text(p.archive, p.config, p.rules, args, now)

    async def _digest(self, chat_id: str, args: str, now: datetime) -> str | None:
        await self.service.digest(chat_id, scheduled=False)
        return None  # the digest is the answer
