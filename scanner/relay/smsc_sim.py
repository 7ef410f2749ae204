"""An SMPP 3.4 SMSC simulator, for trying and testing the relay through Kannel.

Kannel's bearerbox binds to it as an ESME (``smsc = smpp``, ``transceiver-mode = true``) exactly as
it would to an operator's SMSC: it answers binds (checking system_id and password), ``enquire_link``
and ``unbind``, takes ``submit_sm`` (concatenated parts by UDH or SAR parameters, UCS-2 or the
default alphabet, ``message_payload``) and sends delivery receipts back as ``deliver_sm``.

What happens to a submitted message is what it is told, at start or while running:

- ``deliver``: accepted, and the receipt says ``stat:DELIVRD`` (``stat:UNDELIV`` for a destination
  ending in one of the ``undeliverable`` suffixes);
- ``undeliver``: accepted, and every receipt says ``stat:UNDELIV err:001`` (no handset reachable);
- ``reject``: refused with ``ESME_RSUBMITFAIL`` (0x45), no receipt;
- with ``enroute``, an ``ENROUTE`` receipt comes before the final one.

A receipt goes for each submit_sm that asks for one (``registered_delivery``; Kannel asks on the
first part of a concatenated message only). It counts as handed over only when its
``deliver_sm_resp`` comes back. Until then it is kept: a link that drops, or no receiver bound at
all, or the simulator stopped and started again, only delays it to the next bind of that system_id.

The simulator keeps every submit for the tests (with the parts assembled back into messages) and a
few counts. Numbers are masked and message texts never appear in what it prints or logs.

    python -m scanner.relay.smsc_sim --port 2775 --system-id sim --password-file FILE \\
        --undeliverable-suffix 13 --mode deliver

The PDU helpers here (``encode_pdu``, ``take_pdus``, ``Bind``, ``SubmitSm``, ``split_udh`` ...) are
small enough for a test's own ESME to use.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import signal
import socket
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import cast

from notices.privacy import mask_number
from scanner.relay.smpp import (
    BIND_RECEIVER,
    BIND_TRANSCEIVER,
    BIND_TRANSMITTER,
    BINDS,
    DELIVER_SM,
    DELIVER_SM_RESP,
    DELIVRD,
    ENQUIRE_LINK,
    ENQUIRE_LINK_RESP,
    ENROUTE,
    ESM_CLASS_RECEIPT,
    ESME_RALYBND,
    ESME_RINVBNDSTS,
    ESME_RINVCMDID,
    ESME_RINVPASWD,
    ESME_RINVSYSID,
    ESME_ROK,
    ESME_RSUBMITFAIL,
    GENERIC_NACK,
    MODES,
    REJECTD,
    RESPONSE,
    STATE_DELIVERED,
    STATE_ENROUTE,
    STATE_UNDELIVERABLE,
    SUBMIT_SM,
    SUBMIT_SM_RESP,
    TLV_MESSAGE_STATE,
    TLV_RECEIPTED_MESSAGE_ID,
    UNBIND,
    UNBIND_RESP,
    UNDELIV,
    Bind,
    Concat,
    Pdu,
    PduError,
    SubmitSm,
    cstring,
    decode_text,
    encode_pdu,
    receipt_text,
    sar_concat,
    split_udh,
    take_pdus,
)

log = logging.getLogger(__name__)

# --- What the simulator keeps -----------------------------------------------------------------------


@dataclass(frozen=True)
class SubmitRecord:
    """One submit_sm as the simulator took it."""

    message_id: str  # "" when rejected
    source: str
    destination: str
    data_coding: int
    text: str  # the text of this part
    concat: Concat | None
    at: float  # time.monotonic()
    stat: str  # DELIVRD, UNDELIV or REJECTD
    payload: bytes = field(repr=False, default=b"")  # this part's octets after the UDH


@dataclass(frozen=True)
class Message:
    """A complete message: one submit, or every part of a concatenated one."""

    source: str
    destination: str
    text: str
    data_coding: int
    message_ids: tuple[str, ...]
    stat: str  # DELIVRD when every part was delivered, else UNDELIV
    at: float  # when its last part came


@dataclass
class _Receipt:
    serial: int
    system_id: str
    message_id: str
    submit: SubmitSm
    stat: str
    err: str
    state: int
    submitted: float  # wall clock

    def body(self) -> bytes:
        text = receipt_text(self.message_id, self.stat, self.err, self.submitted, time.time())
        return SubmitSm(
            source_addr=self.submit.destination_addr,
            source_addr_ton=self.submit.dest_addr_ton,
            source_addr_npi=self.submit.dest_addr_npi,
            destination_addr=self.submit.source_addr,
            dest_addr_ton=self.submit.source_addr_ton,
            dest_addr_npi=self.submit.source_addr_npi,
            esm_class=ESM_CLASS_RECEIPT,
            short_message=text.encode("latin-1"),
            tlvs={TLV_RECEIPTED_MESSAGE_ID: cstring(self.message_id), TLV_MESSAGE_STATE: bytes((self.state,))},
        ).encode()


class _Link(asyncio.Protocol):
    """One ESME connection."""

    def __init__(self, sim: SmscSimulator) -> None:
        self.sim = sim
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.buffer = bytearray()
        self.bound: int | None = None  # the bind command
        self.system_id = ""
        self.closing = False
        self.sequences = itertools.count(1)
        self.in_flight: dict[int, _Receipt] = {}  # deliver_sm sequence -> receipt awaiting its resp
        self.out: list[bytes] = []

    @property
    def receives(self) -> bool:
        open_ = self.transport is not None and not self.transport.is_closing()
        return self.bound in (BIND_RECEIVER, BIND_TRANSCEIVER) and not self.closing and open_

    @property
    def transmits(self) -> bool:
        return self.bound in (BIND_TRANSMITTER, BIND_TRANSCEIVER)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.sim._link_made(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.sim._link_lost(self)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.buffer += data
        try:
            pdus = take_pdus(self.buffer)
        except PduError as error:
            log.warning("SMSC simulator: closing %s: %s", self.peer, error)
            self.reply(GENERIC_NACK, 0, status=error.status)
            self.close()
            return
        for pdu in pdus:
            self.sim._handle(self, pdu)
            if self.closing:
                break
        self.flush()

    def reply(self, command_id: int, sequence: int, body: bytes = b"", status: int = ESME_ROK) -> None:
        self.out.append(encode_pdu(command_id, sequence, body, status))

    def flush(self) -> None:
        if self.out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self.out))
        self.out.clear()

    def send_receipt(self, receipt: _Receipt) -> None:
        sequence = next(self.sequences)
        self.in_flight[sequence] = receipt
        if self.transport is not None:
            self.transport.write(encode_pdu(DELIVER_SM, sequence, receipt.body()))

    def close(self) -> None:
        self.flush()
        self.closing = True
        if self.transport is not None:
            self.transport.close()


_BIND_NAMES = {BIND_RECEIVER: "receiver", BIND_TRANSMITTER: "transmitter", BIND_TRANSCEIVER: "transceiver"}


class SmscSimulator:
    """An SMPP 3.4 SMSC on ``host``:``port`` (0 picks a free port; ``port`` then holds it), run by
    ``start()`` in a thread of its own until ``stop()``. ``mode``, ``undeliverable``, ``enroute`` and
    ``receipt_delay`` may be changed while it runs."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        system_id: str = "sim",
        password: str = "simpass",
        undeliverable: Iterable[str] = (),
        mode: str = "deliver",
        receipt_delay: float = 0.05,
        enroute: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.system_id = system_id
        self._password = password
        self._lock = threading.Lock()
        self._mode = "deliver"
        self.mode = mode
        self._undeliverable: frozenset[str] = frozenset(undeliverable)
        self.receipt_delay = receipt_delay
        self.enroute = enroute
        self._message_ids = itertools.count(1)
        self._serials = itertools.count(1)
        self._records: list[SubmitRecord] = []
        self._submits = 0
        self._binds = 0
        self._receipts_sent = 0
        self._receipts_acked = 0
        self._receipts_unacked = 0
        self._connections = 0
        # Only the loop's thread touches these.
        self._links: list[_Link] = []
        self._queued: dict[str, deque[_Receipt]] = {}
        self._timers: dict[int, tuple[asyncio.TimerHandle, _Receipt]] = {}
        self._turn = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._failure: BaseException | None = None

    # --- settings ---

    @property
    def mode(self) -> str:
        with self._lock:
            return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode {value!r} is not one of {', '.join(MODES)}")
        with self._lock:
            self._mode = value

    @property
    def undeliverable(self) -> frozenset[str]:
        """Destination suffixes whose receipts say UNDELIV in mode ``deliver``."""
        with self._lock:
            return self._undeliverable

    @undeliverable.setter
    def undeliverable(self, suffixes: Iterable[str]) -> None:
        with self._lock:
            self._undeliverable = frozenset(suffixes)

    # --- running ---

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, timeout: float = 10.0) -> SmscSimulator:
        """Listen (again, on the same port after a stop) and return once listening."""
        if self._thread is not None:
            raise RuntimeError("the SMSC simulator is already running")
        family = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        listener = socket.create_server((self.host, self.port), family=family, backlog=128)  # sets SO_REUSEADDR
        self.port = listener.getsockname()[1]
        ready = threading.Event()
        self._failure = None
        self._thread = threading.Thread(
            target=self._run, args=(listener, ready), name=f"smsc-sim-{self.port}", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout) or self._failure is not None:
            failure = self._failure
            self.stop()
            raise RuntimeError(f"the SMSC simulator did not start on {self.host}:{self.port}") from failure
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close the listener and every connection (receipts not yet acknowledged are kept)."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError("the SMSC simulator's thread did not stop")
        self._thread = self._loop = self._stopping = None

    def __enter__(self) -> SmscSimulator:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self, listener: socket.socket, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve(loop, listener, ready))
        except BaseException as error:
            self._failure = error
            listener.close()
        finally:
            ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self, loop: asyncio.AbstractEventLoop, listener: socket.socket, ready: threading.Event) -> None:
        self._loop = loop
        self._stopping = asyncio.Event()
        server = await loop.create_server(lambda: _Link(self), sock=listener)
        log.info("SMSC simulator listening on %s:%d", self.host, self.port)
        ready.set()
        await self._stopping.wait()
        server.close()
        for link in list(self._links):
            self._requeue(link)
            link.closing = True
            if link.transport is not None:
                link.transport.abort()
        for handle, receipt in sorted(self._timers.values(), key=lambda item: (item[0].when(), item[1].serial)):
            handle.cancel()
            self._queued.setdefault(receipt.system_id, deque()).append(receipt)
        self._timers.clear()
        for _ in range(1000):  # let the aborted connections close their sockets
            if not self._links:
                break
            await asyncio.sleep(0)
        await server.wait_closed()
        log.info("SMSC simulator on %s:%d stopped", self.host, self.port)

    def wait_until(self, condition: Callable[[SmscSimulator], bool], timeout: float = 5.0) -> None:
        """Return once ``condition(self)`` holds; ``TimeoutError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not condition(self):
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            time.sleep(0.002)

    # --- what it keeps ---

    @property
    def records(self) -> list[SubmitRecord]:
        """Every submit_sm, in the order they came."""
        with self._lock:
            return list(self._records)

    @property
    def submits(self) -> int:
        with self._lock:
            return self._submits

    @property
    def binds(self) -> int:
        """Successful binds."""
        with self._lock:
            return self._binds

    @property
    def receipts_sent(self) -> int:
        """deliver_sm PDUs written, a receipt sent again after a reconnect counted again."""
        with self._lock:
            return self._receipts_sent

    @property
    def receipts_acked(self) -> int:
        """Receipts whose deliver_sm_resp came back with status 0."""
        with self._lock:
            return self._receipts_acked

    @property
    def pending_receipts(self) -> int:
        """Receipts made but not yet acknowledged (waiting for their time, a receiver, or a resp)."""
        with self._lock:
            return self._receipts_unacked

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    def messages(self) -> list[Message]:
        """The complete messages the SMSC accepted, in the order their first part came. Parts go
        together by (source, destination, ref, total); a part whose seq its group has already had
        starts a new message. Parts still missing keep a message out."""
        groups: dict[tuple[str, str, int, int], dict[int, SubmitRecord]] = {}
        complete: list[tuple[int, list[SubmitRecord]]] = []
        first: dict[tuple[str, str, int, int], int] = {}
        for index, record in enumerate(self.records):
            if record.stat == REJECTD:
                continue
            if record.concat is None or record.concat.total == 1:
                complete.append((index, [record]))
                continue
            key = (record.source, record.destination, record.concat.ref, record.concat.total)
            parts = groups.get(key)
            if parts is None or record.concat.seq in parts:
                parts = groups[key] = {}
                first[key] = index
            parts[record.concat.seq] = record
            if len(parts) == record.concat.total:
                complete.append((first[key], [parts[seq] for seq in sorted(parts)]))
                del groups[key]
        complete.sort(key=lambda item: item[0])
        return [_assemble(parts) for _, parts in complete]

    def received(self) -> Counter[tuple[str, str]]:
        """Complete messages that reached a handset (every part DELIVRD) per (destination, text):
        a count above 1 is a handset that got the same message more than once."""
        return Counter((m.destination, m.text) for m in self.messages() if m.stat == DELIVRD)

    # --- the loop's side ---

    def _link_made(self, link: _Link) -> None:
        self._links.append(link)
        with self._lock:
            self._connections += 1
        log.debug("SMSC simulator: connection from %s", link.peer)

    def _link_lost(self, link: _Link) -> None:
        if link not in self._links:
            return
        self._links.remove(link)
        with self._lock:
            self._connections -= 1
        waiting = self._requeue(link)
        log.info("SMSC simulator: %s closed, %d receipts kept for the next bind", link.peer, waiting)
        if waiting and link.system_id:
            self._send_queued(link.system_id)

    def _requeue(self, link: _Link) -> int:
        """Put a link's unanswered receipts back at the head of their queue."""
        receipts = sorted(link.in_flight.values(), key=lambda receipt: receipt.serial)
        link.in_flight.clear()
        if receipts:
            self._queued.setdefault(link.system_id, deque()).extendleft(reversed(receipts))
        return len(receipts)

    def _handle(self, link: _Link, pdu: Pdu) -> None:
        command = pdu.command_id
        if command & RESPONSE:
            if command in (DELIVER_SM_RESP, GENERIC_NACK):
                self._receipt_answered(link, pdu)
            return  # other responses (enquire_link_resp, unbind_resp) need nothing
        if command in BINDS:
            self._bind(link, pdu)
        elif command == ENQUIRE_LINK:
            link.reply(ENQUIRE_LINK_RESP, pdu.sequence)
        elif command not in (SUBMIT_SM, UNBIND):
            link.reply(GENERIC_NACK, pdu.sequence, status=ESME_RINVCMDID)
        elif link.bound is None:
            link.reply(command | RESPONSE, pdu.sequence, status=ESME_RINVBNDSTS)
        elif command == UNBIND:
            link.reply(UNBIND_RESP, pdu.sequence)
            log.info("SMSC simulator: %s unbound", link.peer)
            link.close()
        elif not link.transmits:
            link.reply(SUBMIT_SM_RESP, pdu.sequence, status=ESME_RINVBNDSTS)
        else:
            self._submit(link, pdu)

    def _bind(self, link: _Link, pdu: Pdu) -> None:
        resp = pdu.command_id | RESPONSE
        if link.bound is not None:
            link.reply(resp, pdu.sequence, status=ESME_RALYBND)
            return
        try:
            bind = Bind.decode(pdu.body)
        except PduError as error:
            link.reply(resp, pdu.sequence, status=error.status)
            return
        if bind.system_id != self.system_id:
            log.warning("SMSC simulator: bind from %s refused: unknown system_id", link.peer)
            link.reply(resp, pdu.sequence, status=ESME_RINVSYSID)
            return
        if bind.password != self._password:
            log.warning("SMSC simulator: bind from %s refused: wrong password", link.peer)
            link.reply(resp, pdu.sequence, status=ESME_RINVPASWD)
            return
        link.bound, link.system_id = pdu.command_id, bind.system_id
        with self._lock:
            self._binds += 1
        link.reply(resp, pdu.sequence, cstring(self.system_id))
        log.info("SMSC simulator: %s bound as %s", link.peer, _BIND_NAMES[pdu.command_id])
        if link.receives:
            link.flush()  # the bind resp goes before any receipt
            self._send_queued(link.system_id)

    def _submit(self, link: _Link, pdu: Pdu) -> None:
        try:
            submit = SubmitSm.decode(pdu.body)
            payload = submit.payload
            concat, text_octets = split_udh(submit.esm_class, payload)
        except PduError as error:
            link.reply(SUBMIT_SM_RESP, pdu.sequence, status=error.status)
            return
        if concat is None:
            concat = sar_concat(submit.tlvs)
        with self._lock:
            mode, suffixes = self._mode, self._undeliverable
            self._submits += 1
        destination = submit.destination_addr
        if mode == "reject":
            stat, message_id = REJECTD, ""
        else:
            undeliverable = mode == "undeliver" or any(destination.endswith(suffix) for suffix in suffixes)
            stat, message_id = (UNDELIV if undeliverable else DELIVRD), str(next(self._message_ids))
        record = SubmitRecord(
            message_id=message_id,
            source=submit.source_addr,
            destination=destination,
            data_coding=submit.data_coding,
            text=decode_text(submit.data_coding, text_octets),
            concat=concat,
            at=time.monotonic(),
            stat=stat,
            payload=text_octets,
        )
        with self._lock:
            self._records.append(record)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("SMSC simulator: submit_sm %s to %s: %s", message_id or "-", mask_number(destination), stat)
        if stat == REJECTD:
            link.reply(SUBMIT_SM_RESP, pdu.sequence, status=ESME_RSUBMITFAIL)
            return
        link.reply(SUBMIT_SM_RESP, pdu.sequence, cstring(message_id))
        wanted = submit.registered_delivery & 0x03
        if wanted == 1 or (wanted == 2 and stat != DELIVRD):
            submitted = time.time()
            if self.enroute:
                self._schedule(self._receipt(link, message_id, submit, ENROUTE, submitted), 0.0)
            self._schedule(self._receipt(link, message_id, submit, stat, submitted), self.receipt_delay)

    def _receipt(self, link: _Link, message_id: str, submit: SubmitSm, stat: str, submitted: float) -> _Receipt:
        state = {DELIVRD: STATE_DELIVERED, UNDELIV: STATE_UNDELIVERABLE, ENROUTE: STATE_ENROUTE}[stat]
        err = "001" if stat == UNDELIV else "000"
        with self._lock:
            self._receipts_unacked += 1
        return _Receipt(next(self._serials), link.system_id, message_id, submit, stat, err, state, submitted)

    def _schedule(self, receipt: _Receipt, delay: float) -> None:
        assert self._loop is not None
        handle = self._loop.call_later(max(delay, 0.0), self._due, receipt.serial)
        self._timers[receipt.serial] = (handle, receipt)

    def _due(self, serial: int) -> None:
        _, receipt = self._timers.pop(serial)
        self._queued.setdefault(receipt.system_id, deque()).append(receipt)
        self._send_queued(receipt.system_id)

    def _send_queued(self, system_id: str) -> None:
        queue = self._queued.get(system_id)
        while queue:
            receivers = [link for link in self._links if link.receives and link.system_id == system_id]
            if not receivers:
                return
            self._turn += 1
            receivers[self._turn % len(receivers)].send_receipt(queue.popleft())
            with self._lock:
                self._receipts_sent += 1

    def _receipt_answered(self, link: _Link, pdu: Pdu) -> None:
        receipt = link.in_flight.pop(pdu.sequence, None)
        if receipt is None:
            return
        if pdu.status == ESME_ROK:
            with self._lock:
                self._receipts_acked += 1
                self._receipts_unacked -= 1
        else:  # refused or not understood: offered again a little later
            self._schedule(receipt, max(self.receipt_delay, 0.1))


def _assemble(parts: list[SubmitRecord]) -> Message:
    head = parts[0]
    return Message(
        source=head.source,
        destination=head.destination,
        text=decode_text(head.data_coding, b"".join(part.payload for part in parts)),
        data_coding=head.data_coding,
        message_ids=tuple(part.message_id for part in parts),
        stat=DELIVRD if all(part.stat == DELIVRD for part in parts) else UNDELIV,
        at=max(part.at for part in parts),
    )


# --- Command line -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scanner.relay.smsc_sim",
        description="An SMPP 3.4 SMSC simulator for trying the relay through Kannel.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2775, help="0 picks a free port (default 2775)")
    parser.add_argument("--system-id", default="sim")
    parser.add_argument(
        "--password-file", type=Path, help="file holding the bind password (default: the password simpass)"
    )
    parser.add_argument(
        "--undeliverable-suffix",
        action="append",
        default=[],
        metavar="DIGITS",
        help="destinations ending in DIGITS get UNDELIV receipts in mode deliver (repeatable)",
    )
    parser.add_argument("--mode", choices=MODES, default="deliver")
    parser.add_argument("--receipt-delay", type=float, default=0.05, metavar="SECONDS")
    parser.add_argument("--enroute", action="store_true", help="send an ENROUTE receipt before the final one")
    opts = parser.parse_args(argv)
    password = "simpass"
    if opts.password_file is not None:
        try:
            password = opts.password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as error:
            parser.error(f"cannot read the password file: {error.strerror}")
    sim = SmscSimulator(
        host=opts.host,
        port=opts.port,
        system_id=opts.system_id,
        password=password,
        undeliverable=opts.undeliverable_suffix,
        mode=opts.mode,
        receipt_delay=opts.receipt_delay,
        enroute=opts.enroute,
    )
    done = threading.Event()

    def finish(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {signum: signal.signal(signum, finish) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            sim.start()
        except OSError as error:
            print(f"cannot listen on {opts.host}:{opts.port}: {error.strerror}", file=sys.stderr)
            return 1
        print(
            f"SMSC simulator listening on {sim.host}:{sim.port} (system_id {sim.system_id}, mode {sim.mode}, "
            f"{len(sim.undeliverable)} undeliverable suffixes)",
            flush=True,
        )
        while not done.wait(0.5):
            pass
        sim.stop()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
