"""The Kannel relay: claims due SMS notices, hands each to Kannel's sendsms interface at the pace its
SMSC links allow, acknowledges it under the relay's own submission name, and applies Kannel's
delivery reports, which arrive on the relay's own small HTTP endpoint, as the queue's receipts.

One asyncio loop does the HTTP work; the queue's calls (blocking database transactions) run on a
small thread pool. What the relay holds at any moment is bounded: the notices of one claim (about two
seconds of sending) and ``in_flight`` open sendsms requests.

Exactly once, as far as the contract allows: a notice is acknowledged as soon as Kannel answers, so
only a crash between Kannel's answer and that acknowledgement can leave a message sent but still
claimed. The lease then hands it out again. Before sending a notice again the relay looks for
delivery reports of its earlier submissions (``rn-<notice>-<attempt>``): a report proves Kannel took
that submission, so the notice is acknowledged with that name instead of being sent twice. Reports
are kept in memory (and reach a restarted relay because Kannel retries a report it could not hand
over), so a handset can get a duplicate only when the relay dies after Kannel's answer and after the
reports of that message already reached the dead process.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from notices.privacy import mask_text
from notices.queue import RECEIPT_TIMEOUT, Ack, ClaimedNotice, NoticeQueue, Receipt
from notices.settings import ANY_LINK
from scanner.relay.batch import Batcher
from scanner.relay.config import RelayConfig
from scanner.relay.kannel import Report, ReportError, report_of, sendsms_query, submission_id
from scanner.relay.pace import Pacer
from scanner.relay.status import Counters
from scanner.utctime import utcnow

T = TypeVar("T")
ACCEPTED = ("0:", "3:")  # Kannel's "Accepted for delivery" and "Queued for later delivery"
DENIED = "denied"  # Kannel's answer for a number its white or black list refuses: no retry helps
BREAKER_AFTER = 3  # failed requests in a row before the relay stops claiming for a while
REPORTS_KEPT = 200_000  # reports of submissions not (yet) known to the queue, kept at most


@dataclass
class Submission:
    notice_id: int
    acked: bool = False
    waiting: list[Report] = field(default_factory=list)
    at: float = field(default_factory=time.monotonic)


class Relay:
    """One relay process's work; ``run`` until ``stop`` is set (SIGTERM), then finish what it holds."""

    def __init__(
        self,
        config: RelayConfig,
        queue: NoticeQueue,
        links: Mapping[str, float],
        signature: str = "",
        *,
        db_threads: int = 1,
        emit: Callable[[dict[str, Any]], None] | None = None,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.config = config
        self.queue = queue
        self.pacer = Pacer(links)
        self.links = dict(links)
        self.signature = signature if config.add_signature else ""
        self.db = ThreadPoolExecutor(max_workers=db_threads, thread_name_prefix="relay-db")
        self.emit = emit or _print_line
        self.now = now
        self.counters = Counters()
        self.submissions: dict[str, Submission] = {}
        self.unclaimed_reports: dict[str, list[Report]] = {}  # reports the queue did not know (yet)
        self.held: dict[int, ClaimedNotice] = {}
        self.in_flight = 0
        self.failures_in_a_row = 0
        self.paused_until = 0.0
        self.listening: tuple[str, int] | None = None
        self.report_base = config.report_url  # the bound port's, once the report endpoint listens
        self._acks: Batcher[Ack, str | ValueError] = Batcher(self._ack_many)
        self._receipts: Batcher[Receipt, str | ValueError] = Batcher(self._receipt_many)
        self._sem = asyncio.Semaphore(config.in_flight)
        self._tasks: set[asyncio.Task[None]] = set()

    # --- the loop ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, until_idle: float | None = None) -> dict[str, Any]:
        """Relay until ``stop`` is set (or, with ``until_idle``, until nothing was due, held or awaiting
        a report for that many seconds); returns the last status."""
        site_runner = await self._serve_reports()
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_seconds)
        connector = aiohttp.TCPConnector(limit=self.config.in_flight, force_close=False)
        status_task = asyncio.create_task(self._report_status(stop))
        idle_since: float | None = None
        try:
            async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
                while not stop.is_set():
                    sent = await self._one_claim(session, stop)
                    if sent:
                        idle_since = None
                        continue
                    if until_idle is not None:
                        busy = self.held or self.in_flight or any(not s.acked for s in self.submissions.values())
                        idle_since = None if busy else (idle_since or time.monotonic())
                        if idle_since is not None and time.monotonic() - idle_since >= until_idle:
                            break
                    await _wait(stop, self._idle_pause())
                await self._drain()
        finally:
            status_task.cancel()
            await asyncio.sleep(0.5)  # reports of the last submissions usually follow within moments
            await site_runner.cleanup()
            self.db.shutdown(wait=True)
        final = self.status()
        self.emit({"event": "stopped", **final})
        return final

    async def _one_claim(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> int:
        """Claim about two seconds' worth of notices and send them; how many were claimed."""
        if time.monotonic() < self.paused_until:
            if not await self._kannel_answers():
                return 0
            self.paused_until = 0.0  # it is back: one more failure pauses again
            self.failures_in_a_row = BREAKER_AFTER - 1
        want = max(1, min(self.config.batch, int(self.pacer.total_rate * 2)))
        try:
            claimed = await self._db(self.queue.claim, want, self.config.consumer, None, "sms", self.now())
        except Exception as exc:  # the database is away: say so and try again shortly
            self._error(f"claim: {type(exc).__name__}: {exc}")
            return 0
        self.counters.claimed += len(claimed)
        for notice in claimed:
            self.held[notice.id] = notice
        for notice in claimed:
            if await self._recover(notice):
                continue
            link, wait = self.pacer.reserve(notice.segments, time.monotonic())
            if wait > 0:
                await asyncio.sleep(wait)
            await self._sem.acquire()
            self.in_flight += 1
            task = asyncio.create_task(self._send(session, notice, link))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(claimed)

    def _idle_pause(self) -> float:
        if time.monotonic() < self.paused_until:
            return min(1.0, self.paused_until - time.monotonic())  # probing Kannel every second
        return 1.0

    async def _kannel_answers(self) -> bool:
        """Whether Kannel's sendsms port takes a connection again (a paused relay asks every second)."""
        parts = urlsplit(self.config.sendsms)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port), timeout=1.0)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def _drain(self) -> None:
        """Stopping: nothing more is claimed; the requests open are answered (or time out) and
        acknowledged or given back."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- sending ----------------------------------------------------------------------------------

    def _text(self, notice: ClaimedNotice) -> str:
        if self.signature and not notice.text.startswith(self.signature):
            return self.signature + notice.text
        return notice.text

    async def _send(self, session: aiohttp.ClientSession, notice: ClaimedNotice, link: str) -> None:
        name = submission_id(notice.id, notice.attempts)
        try:
            if not self.queue.enforcement.window.contains(self.now()):
                await self._give_back(notice, "the send window closed before it was sent")
                return
            self.submissions[name] = Submission(notice.id)
            query = sendsms_query(
                user=self.config.user,
                password=self.config.password,
                to=notice.msisdn,
                sender=self.config.sender,
                text=self._text(notice),
                report_url=f"{self.report_base}?id={name}",
                smsc=None if link == ANY_LINK else link,
            )
            try:
                async with session.get(f"{self.config.sendsms}?{query}") as response:
                    body = (await response.text(errors="replace")).strip()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                self._unacknowledged(name)  # a timeout may come after Kannel took it
                self._failed()
                await self._give_back(notice, f"kannel: {type(exc).__name__}: {exc}".rstrip(": "))
                return
            if status in (200, 202) and body.startswith(ACCEPTED):
                self.failures_in_a_row = 0
                if body.startswith("3:"):
                    self.counters.queued_at_gateway += 1
                await self._ack(notice, name)
                return
            self._unacknowledged(name)
            permanent = status == 403 and DENIED in body.lower()
            if not permanent:
                self._failed()
            await self._give_back(notice, f"kannel answered {status}: {body[:200]}", permanent)
        finally:
            self.held.pop(notice.id, None)
            self.in_flight -= 1
            self._sem.release()

    async def _ack(self, notice: ClaimedNotice, name: str) -> None:
        try:
            answer = await self._acks.submit(Ack(notice.id, notice.claim_token, name))
            if isinstance(answer, ValueError):
                raise answer
        except Exception as exc:  # the lease hands it out again; its reports will show it was sent
            self._error(f"notice {notice.id}: ack: {type(exc).__name__}: {exc}")
            self._unacknowledged(name)
            return
        self.counters.sent()
        sub = self.submissions.get(name)
        if sub is not None:
            sub.acked = True
            waiting, sub.waiting = sub.waiting, []
            for report in waiting:
                await self._apply(report)

    def _unacknowledged(self, name: str) -> None:
        """A submission Kannel may have taken that the queue does not know: the reports that came for it
        (and those still to come, which the queue will answer ``unknown``) are kept for the notice's
        next claim, which acknowledges this submission instead of sending again."""
        sub = self.submissions.pop(name, None)
        for report in sub.waiting if sub is not None else []:
            self._keep_unclaimed(report)

    async def _give_back(self, notice: ClaimedNotice, error: str, permanent: bool = False) -> None:
        try:
            status = await self._db(
                self.queue.nack, notice.id, notice.claim_token, mask_text(error), permanent, self.now()
            )
        except Exception as exc:
            self._error(f"notice {notice.id}: nack: {type(exc).__name__}: {exc}")
            return
        self.counters.nacked += 1
        self.counters.dead += status == "dead"
        self._error(f"notice {notice.id}: {error}", count=False)

    async def _recover(self, notice: ClaimedNotice) -> bool:
        """A notice claimed again whose earlier submission Kannel has (its reports came, the
        acknowledgement never did): acknowledge that submission instead of sending it twice."""
        for attempt in range(notice.attempts - 1, 0, -1):
            name = submission_id(notice.id, attempt)
            reports = self.unclaimed_reports.pop(name, None)
            if not reports:
                continue
            self.submissions[name] = Submission(notice.id, waiting=reports)
            await self._ack(notice, name)
            self.held.pop(notice.id, None)
            self.counters.recovered += 1
            return True
        return False

    def _failed(self) -> None:
        self.failures_in_a_row += 1
        if self.failures_in_a_row >= BREAKER_AFTER:
            pause = min(30.0, 2.0 ** (self.failures_in_a_row - BREAKER_AFTER))
            self.paused_until = time.monotonic() + pause

    # --- delivery reports -------------------------------------------------------------------------

    async def _serve_reports(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_get("/dlr", self._on_report)
        app.router.add_get("/status", self._on_status)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.config.dlr_host, self.config.dlr_port, backlog=1024, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.listening = sockets[0].getsockname()[:2] if sockets else (self.config.dlr_host, self.config.dlr_port)
        host, port = self.listening
        self.report_base = replace(self.config, dlr_host=host, dlr_port=port).report_url  # once, on the bound port
        return runner

    async def _on_status(self, request: web.Request) -> web.Response:
        return web.json_response(self.status())

    async def _on_report(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            report = report_of(query.get("id", ""), query.get("type", ""), query.get("reply", ""))
        except ReportError as exc:
            self.counters.bad_reports += 1
            self._error(str(exc), count=False)
            return web.Response(status=400, text=f"{exc}\n")
        self.counters.reports += 1
        sub = self.submissions.get(report.submission)
        if sub is not None and not sub.acked:
            sub.waiting.append(report)  # it came before the acknowledgement: applied right after it
            return web.Response(text="ok\n")
        if not await self._apply(report):  # Kannel retries a report it could not hand over
            return web.Response(status=503, text="try again\n")
        return web.Response(text="ok\n")

    async def _apply(self, report: Report) -> bool:
        """Apply a report as a receipt; False when the database could not take it (Kannel is asked
        to send it again)."""
        try:
            result = await self._receipts.submit(Receipt(report.submission, report.stat, report.error))
        except Exception as exc:
            self._error(f"report {report.submission}: {type(exc).__name__}: {exc}")
            return False
        if isinstance(result, ValueError):
            self._error(f"report {report.submission}: {result}")
        elif result == "unknown":
            self.counters.unknown_reports += 1
            self._keep_unclaimed(report)
        elif result in ("delivered", "undelivered"):
            setattr(self.counters, result, getattr(self.counters, result) + 1)
            self.submissions.pop(report.submission, None)
        return True

    def _keep_unclaimed(self, report: Report) -> None:
        if len(self.unclaimed_reports) >= REPORTS_KEPT:
            self.unclaimed_reports.pop(next(iter(self.unclaimed_reports)))
        self.unclaimed_reports.setdefault(report.submission, []).append(report)

    # --- status -----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "at": self.now().isoformat(timespec="seconds"),
            "consumer": self.config.consumer,
            "sendsms": _without_query(self.config.sendsms),
            "reports_at": self.listening and f"http://{self.listening[0]}:{self.listening[1]}/dlr",
            "links": self.links,
            **self.counters.line(),
            "awaiting_report": sum(1 for s in self.submissions.values() if s.acked),
            "in_flight": self.in_flight,
            "held": len(self.held),
            "paused_seconds": round(max(0.0, self.paused_until - time.monotonic()), 1),
        }

    async def _report_status(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await _wait(stop, self.config.status_every_seconds)
            if not stop.is_set():
                self._forget_old()
                self.emit({"event": "status", **self.status()})

    def _forget_old(self) -> None:
        """Submissions without a final report after the queue's 72 hours are the queue's to call
        undelivered (``cases advance`` sweeps them); the relay stops waiting for them."""
        horizon = time.monotonic() - RECEIPT_TIMEOUT.total_seconds()
        for name in [name for name, sub in self.submissions.items() if sub.at < horizon]:
            del self.submissions[name]

    def _error(self, message: str, count: bool = True) -> None:
        self.counters.error(message, self.now().isoformat(timespec="seconds"), count)

    async def _ack_many(self, acks: list[Ack]) -> list[str | ValueError]:
        return await self._db(self.queue.ack_many, acks, self.now())

    async def _receipt_many(self, receipts: list[Receipt]) -> list[str | ValueError]:
        return await self._db(self.queue.receipt_many, receipts, self.now())

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.db, fn, *args)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _print_line(line: dict[str, Any]) -> None:
    print(json.dumps(line, ensure_ascii=False), flush=True)
