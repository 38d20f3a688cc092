"""A local SMTP sink (aiosmtpd, a development dependency) for the mailing tests and `make bench`: it
accepts every message, optionally slowly, and records who received what, so that duplicates and missed
recipients can be counted. Never imported by the service itself."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from email.parser import BytesHeaderParser


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Handler:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.received: list[tuple[str, str]] = []  # (recipient, Message-ID)
        self.connections = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        headers = BytesHeaderParser().parsebytes(envelope.content)
        message_id = headers.get("Message-ID", "")
        with self.lock:
            for recipient in envelope.rcpt_tos:
                self.received.append((recipient, message_id))
        return "250 Message accepted for delivery"


class SmtpSink:
    """`with SmtpSink() as sink:` listens on 127.0.0.1:`sink.port` in a thread."""

    def __init__(self, *, delay: float = 0.0, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = _Handler(delay)
        self._controller = None

    def start(self) -> SmtpSink:
        import logging

        from aiosmtpd.controller import Controller

        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO

        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def count(self) -> int:
        with self.handler.lock:
            return len(self.handler.received)

    def per_recipient(self) -> Counter:
        with self.handler.lock:
            return Counter(recipient for recipient, _ in self.handler.received)

    @property
    def connections(self) -> int:
        return self.handler.connections
