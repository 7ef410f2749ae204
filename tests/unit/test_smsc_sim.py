"""The SMPP 3.4 SMSC simulator, driven over real sockets by a small blocking ESME."""

from __future__ import annotations

import logging
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.relay.smpp import (
    BIND_RECEIVER,
    BIND_TRANSCEIVER,
    BIND_TRANSMITTER,
    DELIVER_SM,
    DELIVER_SM_RESP,
    ENQUIRE_LINK,
    ENQUIRE_LINK_RESP,
    ESM_CLASS_UDHI,
    ESME_RALYBND,
    ESME_RINVBNDSTS,
    ESME_RINVCMDID,
    ESME_RINVPASWD,
    ESME_RINVSYSID,
    ESME_ROK,
    ESME_RSUBMITFAIL,
    GENERIC_NACK,
    RESPONSE,
    SUBMIT_SM,
    SUBMIT_SM_RESP,
    TLV_MESSAGE_PAYLOAD,
    TLV_MESSAGE_STATE,
    TLV_RECEIPTED_MESSAGE_ID,
    TLV_SAR_MSG_REF_NUM,
    TLV_SAR_SEGMENT_SEQNUM,
    TLV_SAR_TOTAL_SEGMENTS,
    UNBIND,
    UNBIND_RESP,
    Bind,
    Concat,
    Pdu,
    SubmitSm,
    encode_pdu,
    receipt_fields,
    split_udh,
    take_pdus,
    udh_concat,
)
from scanner.relay.smsc_sim import SmscSimulator

TIMEOUT = 5.0
SENDER = "10690000"  # made-up numbers
HANDSET = "13012349990"
UNREACHABLE = "13012340013"  # ends in the simulator's undeliverable suffix
NOTICE = "您的手机号码尚未完成实名登记，请于十五日内携带本人有效身份证件到营业厅办理，逾期将依法暂停服务。" * 3


class Esme:
    """Just enough of an ESME: sends requests, waits for their responses, keeps the receipts."""

    def __init__(self, port: int, *, ack_receipts: bool = True) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        self.unread: deque[Pdu] = deque()
        self.receipts: list[Pdu] = []
        self.ack_receipts = ack_receipts
        self.sequence = 0

    def send(self, command_id: int, body: bytes = b"") -> int:
        self.sequence += 1
        self.sock.sendall(encode_pdu(command_id, self.sequence, body))
        return self.sequence

    def next_pdu(self) -> Pdu:
        while not self.unread:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the SMSC closed the connection")
            self.buffer += data
            self.unread.extend(take_pdus(self.buffer))
        return self.unread.popleft()

    def answer(self, command_id: int, sequence: int) -> Pdu:
        """The response to request ``sequence``; receipts coming meanwhile are kept (and acknowledged)."""
        while True:
            pdu = self.next_pdu()
            if pdu.sequence == sequence and pdu.command_id in (command_id | RESPONSE, GENERIC_NACK):
                return pdu
            self.other(pdu)

    def call(self, command_id: int, body: bytes = b"") -> Pdu:
        return self.answer(command_id, self.send(command_id, body))

    def other(self, pdu: Pdu) -> None:
        assert pdu.command_id == DELIVER_SM, f"unexpected PDU 0x{pdu.command_id:08X}"
        self.receipts.append(pdu)
        if self.ack_receipts:
            self.sock.sendall(encode_pdu(DELIVER_SM_RESP, pdu.sequence, b"\0"))

    def bind(self, system_id: str = "sim", password: str = "simpass", command: int = BIND_TRANSCEIVER) -> Pdu:
        return self.call(command, Bind(system_id, password, system_type="VMA").encode())

    def submit(
        self, destination: str = HANDSET, text: bytes = b"Please complete real-name registration", **fields: int
    ) -> Pdu:
        fields.setdefault("registered_delivery", 1)
        return self.call(SUBMIT_SM, SubmitSm(SENDER, destination, text, **fields).encode())

    def wait_receipts(self, count: int) -> list[Receipt]:
        while len(self.receipts) < count:
            self.other(self.next_pdu())
        return [receipt_of(pdu) for pdu in self.receipts[:count]]

    def wait_closed(self) -> None:
        with pytest.raises(ConnectionError):
            while True:
                self.other(self.next_pdu())

    def close(self) -> None:
        self.sock.close()


@dataclass(frozen=True)
class Receipt:
    message_id: str  # receipted_message_id
    state: int  # message_state
    fields: dict[str, str]  # of the receipt's text
    deliver: SubmitSm


def receipt_of(pdu: Pdu) -> Receipt:
    deliver = SubmitSm.decode(pdu.body)
    return Receipt(
        message_id=deliver.tlvs[TLV_RECEIPTED_MESSAGE_ID].rstrip(b"\0").decode("ascii"),
        state=deliver.tlvs[TLV_MESSAGE_STATE][0],
        fields=receipt_fields(deliver.short_message.decode("latin-1")),
        deliver=deliver,
    )


def message_id_of(resp: Pdu) -> str:
    assert resp.command_id == SUBMIT_SM_RESP and resp.status == ESME_ROK, resp
    assert resp.body.endswith(b"\0")
    return resp.body[:-1].decode("ascii")


@pytest.fixture
def sim() -> Iterator[SmscSimulator]:
    with SmscSimulator(undeliverable={"13"}, receipt_delay=0.01) as running:
        yield running


@pytest.fixture
def connect(sim: SmscSimulator) -> Iterator[Callable[..., Esme]]:
    opened: list[Esme] = []

    def open_esme(ack_receipts: bool = True) -> Esme:
        esme = Esme(sim.port, ack_receipts=ack_receipts)
        opened.append(esme)
        return esme

    yield open_esme
    for esme in opened:
        esme.close()


def test_a_bind_checks_system_id_then_password(sim: SmscSimulator, connect: Callable[..., Esme]) -> None:
    esme = connect()
    assert esme.bind(system_id="other").status == ESME_RINVSYSID
    assert esme.bind(password="wrong").status == ESME_RINVPASWD
    bound = esme.bind()
    assert (bound.command_id, bound.status, bound.body) == (BIND_TRANSCEIVER | RESPONSE, ESME_ROK, b"sim\0")
    assert esme.bind().status == ESME_RALYBND
    assert connect().bind(command=BIND_TRANSMITTER).status == ESME_ROK
    receiver = connect()
    assert receiver.bind(command=BIND_RECEIVER).command_id == BIND_RECEIVER | RESPONSE
    assert receiver.submit().status == ESME_RINVBNDSTS  # a receiver does not submit
    assert sim.binds == 3 and sim.submits == 0


def test_before_a_bind_only_binds_and_enquire_link_are_answered(
    sim: SmscSimulator, connect: Callable[..., Esme]
) -> None:
    esme = connect()
    assert esme.call(ENQUIRE_LINK).command_id == ENQUIRE_LINK_RESP
    refused = esme.submit()
    assert (refused.command_id, refused.status) == (SUBMIT_SM_RESP, ESME_RINVBNDSTS)
    assert esme.call(UNBIND).status == ESME_RINVBNDSTS
    assert sim.submits == 0 and sim.binds == 0


def test_enquire_link_unknown_commands_and_unbind(connect: Callable[..., Esme]) -> None:
    esme = connect()
    esme.bind()
    alive = esme.call(ENQUIRE_LINK)
    assert (alive.command_id, alive.status, alive.sequence) == (ENQUIRE_LINK_RESP, ESME_ROK, esme.sequence)
    unknown = esme.call(0x00000099)
    assert (unknown.command_id, unknown.status) == (GENERIC_NACK, ESME_RINVCMDID)
    assert esme.call(UNBIND).command_id == UNBIND_RESP
    esme.wait_closed()


def test_a_single_part_submit_gets_a_delivered_receipt(sim: SmscSimulator, connect: Callable[..., Esme]) -> None:
    esme = connect()
    esme.bind()
    message_id = message_id_of(esme.submit(text=b"Please complete real-name registration", source_addr_ton=5))
    (receipt,) = esme.wait_receipts(1)
    assert receipt.message_id == message_id == receipt.fields["id"]
    assert (receipt.fields["stat"], receipt.fields["err"], receipt.fields["dlvrd"]) == ("DELIVRD", "000", "001")
    assert receipt.state == 2
    assert re.fullmatch(r"\d{10}", receipt.fields["done date"])
    deliver = receipt.deliver
    assert (deliver.source_addr, deliver.destination_addr, deliver.dest_addr_ton) == (HANDSET, SENDER, 5)
    assert (deliver.esm_class, deliver.data_coding, deliver.registered_delivery) == (0x04, 0, 0)
    sim.wait_until(lambda s: s.receipts_acked == 1, TIMEOUT)
    assert (sim.submits, sim.receipts_sent, sim.pending_receipts) == (1, 1, 0)
    (record,) = sim.records
    assert (record.message_id, record.destination, record.text, record.concat) == (
        message_id,
        HANDSET,
        "Please complete real-name registration",
        None,
    )
    assert sim.received() == {(HANDSET, "Please complete real-name registration"): 1}


def ucs2_parts(text: str, ref: int) -> list[bytes]:
    octets = text.encode("utf-16-be")
    chunks = [octets[start : start + 134] for start in range(0, len(octets), 134)]
    return [udh_concat(ref, len(chunks), seq) + chunk for seq, chunk in enumerate(chunks, 1)]


def test_a_concatenated_ucs2_message_is_assembled_and_counted_once(
    sim: SmscSimulator, connect: Callable[..., Esme]
) -> None:
    esme = connect()
    esme.bind()
    parts = ucs2_parts(NOTICE, ref=0x5A)
    assert len(parts) == 3
    ids = [message_id_of(esme.submit(text=part, esm_class=ESM_CLASS_UDHI, data_coding=8)) for part in parts]
    assert len(set(ids)) == 3
    receipts = esme.wait_receipts(3)
    assert sorted(r.message_id for r in receipts) == sorted(ids)
    assert {r.fields["stat"] for r in receipts} == {"DELIVRD"}
    assert [record.concat for record in sim.records] == [Concat(0x5A, 3, seq) for seq in (1, 2, 3)]
    (message,) = sim.messages()
    assert (message.text, message.message_ids, message.stat) == (NOTICE, tuple(ids), "DELIVRD")
    assert sim.received()[(HANDSET, NOTICE)] == 1

    again = ucs2_parts(NOTICE, ref=0x5B)
    for part in again[:2]:
        esme.submit(text=part, esm_class=ESM_CLASS_UDHI, data_coding=8)
    assert len(sim.messages()) == 1  # a part still missing
    esme.submit(text=again[2], esm_class=ESM_CLASS_UDHI, data_coding=8)
    assert sim.received()[(HANDSET, NOTICE)] == 2  # the handset got the same notice twice


def test_message_payload_and_sar_parameters(sim: SmscSimulator, connect: Callable[..., Esme]) -> None:
    esme = connect()
    esme.bind()
    octets = NOTICE.encode("utf-16-be")
    halves = [octets[:200], octets[200:]]
    for seq, half in enumerate(halves, 1):
        tlvs = {
            TLV_MESSAGE_PAYLOAD: half,
            TLV_SAR_MSG_REF_NUM: (0x0102).to_bytes(2, "big"),
            TLV_SAR_TOTAL_SEGMENTS: b"\x02",
            TLV_SAR_SEGMENT_SEQNUM: bytes((seq,)),
        }
        body = SubmitSm(SENDER, HANDSET, data_coding=8, tlvs=tlvs).encode()
        message_id_of(esme.call(SUBMIT_SM, body))
    assert [record.concat for record in sim.records] == [Concat(0x0102, 2, 1), Concat(0x0102, 2, 2)]
    assert [message.text for message in sim.messages()] == [NOTICE]


def test_destinations_with_an_undeliverable_suffix_get_undeliv(
    sim: SmscSimulator, connect: Callable[..., Esme]
) -> None:
    esme = connect()
    esme.bind()
    lost = message_id_of(esme.submit(UNREACHABLE))
    reached = message_id_of(esme.submit(HANDSET))
    receipts = {r.message_id: r for r in esme.wait_receipts(2)}
    assert (receipts[lost].fields["stat"], receipts[lost].fields["err"], receipts[lost].fields["dlvrd"]) == (
        "UNDELIV",
        "001",
        "000",
    )
    assert receipts[lost].state == 5
    assert (receipts[reached].fields["stat"], receipts[reached].state) == ("DELIVRD", 2)
    assert [r.stat for r in sim.records] == ["UNDELIV", "DELIVRD"]
    assert set(sim.received()) == {(HANDSET, "Please complete real-name registration")}


def test_mode_undeliver_is_set_while_running(sim: SmscSimulator, connect: Callable[..., Esme]) -> None:
    esme = connect()
    esme.bind()
    sim.mode = "undeliver"
    first = message_id_of(esme.submit(HANDSET))
    (receipt,) = esme.wait_receipts(1)
    assert (receipt.message_id, receipt.fields["stat"], receipt.fields["err"]) == (first, "UNDELIV", "001")
    sim.mode = "deliver"
    message_id_of(esme.submit(HANDSET))
    assert esme.wait_receipts(2)[1].fields["stat"] == "DELIVRD"
    with pytest.raises(ValueError, match="not one of"):
        sim.mode = "lose"


def test_mode_reject_refuses_the_submit_and_sends_no_receipt(sim: SmscSimulator, connect: Callable[..., Esme]) -> None:
    esme = connect()
    esme.bind()
    sim.mode = "reject"
    refused = esme.submit(HANDSET)
    assert (refused.command_id, refused.status, refused.body) == (SUBMIT_SM_RESP, ESME_RSUBMITFAIL, b"")
    sim.mode = "deliver"
    accepted = message_id_of(esme.submit(HANDSET))
    # A receipt for the refused submit would have been due first.
    assert [r.message_id for r in esme.wait_receipts(1)] == [accepted]
    sim.wait_until(lambda s: s.receipts_acked == 1, TIMEOUT)
    assert (sim.submits, sim.receipts_sent, len(esme.receipts)) == (2, 1, 1)
    assert [(r.message_id, r.stat) for r in sim.records] == [("", "REJECTD"), (accepted, "DELIVRD")]
    assert len(sim.messages()) == 1


def test_enroute_comes_before_the_final_receipt(sim: SmscSimulator, connect: Callable[..., Esme]) -> None:
    sim.enroute = True
    esme = connect()
    esme.bind()
    message_id = message_id_of(esme.submit(HANDSET))
    enroute, final = esme.wait_receipts(2)
    assert (enroute.message_id, enroute.state, enroute.fields["stat"]) == (message_id, 1, "ENROUTE")
    assert (final.message_id, final.state, final.fields["stat"]) == (message_id, 2, "DELIVRD")


def test_an_unacknowledged_receipt_is_sent_again_after_a_new_bind(
    sim: SmscSimulator, connect: Callable[..., Esme]
) -> None:
    first = connect(ack_receipts=False)
    first.bind()
    message_id = message_id_of(first.submit(HANDSET))
    assert [r.message_id for r in first.wait_receipts(1)] == [message_id]
    first.close()  # the link drops before the deliver_sm_resp
    sim.wait_until(lambda s: s.connections == 0, TIMEOUT)
    assert sim.pending_receipts == 1

    # Receipts of a transmitter's submits wait for a receiver too.
    transmitter = connect()
    transmitter.bind(command=BIND_TRANSMITTER)
    later = message_id_of(transmitter.submit(HANDSET))

    second = connect()
    second.bind(command=BIND_RECEIVER)
    assert sorted(r.message_id for r in second.wait_receipts(2)) == sorted([message_id, later])
    sim.wait_until(lambda s: s.receipts_acked == 2, TIMEOUT)
    assert sim.pending_receipts == 0
    assert transmitter.receipts == []


def test_stop_then_start_on_the_same_port_keeps_receipts(sim: SmscSimulator, connect: Callable[..., Esme]) -> None:
    esme = connect(ack_receipts=False)
    esme.bind()
    message_id = message_id_of(esme.submit(HANDSET))
    port = sim.port
    sim.stop()
    assert not sim.running
    esme.wait_closed()
    with pytest.raises(OSError):
        Esme(port).close()  # nothing listens
    sim.start()
    assert sim.port == port
    with pytest.raises(RuntimeError, match="already running"):
        sim.start()
    again = connect()
    again.bind()
    assert [r.message_id for r in again.wait_receipts(1)] == [message_id]
    newer = message_id_of(again.submit(HANDSET))
    assert newer != message_id  # ids stay unique across a restart
    assert [r.message_id for r in again.wait_receipts(2)] == [message_id, newer]
    sim.wait_until(lambda s: s.receipts_acked == 2, TIMEOUT)


def test_numbers_are_masked_and_texts_kept_out_of_the_log(
    sim: SmscSimulator, connect: Callable[..., Esme], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="scanner.relay.smsc_sim")
    esme = connect()
    esme.bind()
    esme.submit(HANDSET, text=b"Secret notice text")
    esme.wait_receipts(1)
    sim.wait_until(lambda s: s.receipts_acked == 1, TIMEOUT)
    assert "130****9990" in caplog.text
    assert HANDSET not in caplog.text and "Secret notice" not in caplog.text


def test_a_thousand_submits_a_second(sim: SmscSimulator, connect: Callable[..., Esme]) -> None:
    esme = connect()
    esme.bind()
    body = SubmitSm(SENDER, HANDSET, b"Please complete real-name registration", registered_delivery=1).encode()
    total, window = 3000, 50
    started = time.perf_counter()
    for _ in range(total // window):
        sequences = [esme.send(SUBMIT_SM, body) for _ in range(window)]
        for sequence in sequences:
            assert esme.answer(SUBMIT_SM, sequence).status == ESME_ROK
    rate = total / (time.perf_counter() - started)
    assert rate >= 1000, f"{rate:.0f} submit_sm a second"
    assert sim.submits == total
    esme.wait_receipts(total)
    sim.wait_until(lambda s: s.receipts_acked == total, TIMEOUT)


def test_the_command_serves_until_sigterm(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n", encoding="utf-8")
    command = [sys.executable, "-m", "scanner.relay.smsc_sim", "--port", "0", "--password-file", str(secret)]
    command += ["--undeliverable-suffix", "13", "--receipt-delay", "0"]
    with subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as server:
        try:
            assert server.stdout is not None
            ready, _, _ = select.select([server.stdout], [], [], 20)
            assert ready, "the simulator printed nothing"
            line = server.stdout.readline()
            found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            assert found, line
            assert "s3cret" not in line
            esme = Esme(int(found.group(1)))
            try:
                assert esme.bind(password="simpass").status == ESME_RINVPASWD
                assert esme.bind(password="s3cret").status == ESME_ROK
                message_id_of(esme.submit(UNREACHABLE))
                assert esme.wait_receipts(1)[0].fields["stat"] == "UNDELIV"
            finally:
                esme.close()
            server.send_signal(signal.SIGTERM)
            assert server.wait(TIMEOUT) == 0
            assert server.stdout.read() == ""
        finally:
            if server.poll() is None:
                server.kill()


octets = st.integers(0, 255)


def c_strings(size: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=size)


submits = st.builds(
    SubmitSm,
    source_addr=c_strings(21),
    destination_addr=c_strings(21),
    short_message=st.binary(max_size=255),
    service_type=c_strings(6),
    source_addr_ton=octets,
    source_addr_npi=octets,
    dest_addr_ton=octets,
    dest_addr_npi=octets,
    esm_class=octets,
    protocol_id=octets,
    priority_flag=octets,
    schedule_delivery_time=c_strings(17),
    validity_period=c_strings(17),
    registered_delivery=octets,
    replace_if_present_flag=octets,
    data_coding=octets,
    sm_default_msg_id=octets,
    tlvs=st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=300), max_size=4),
)


@settings(max_examples=150, deadline=None)
@given(submits, st.integers(1, 0x7FFFFFFE), st.data())
def test_submit_sm_round_trips_through_the_wire(submit: SubmitSm, sequence: int, data: st.DataObject) -> None:
    body = submit.encode()
    wire = encode_pdu(SUBMIT_SM, sequence, body) + encode_pdu(ENQUIRE_LINK, sequence + 1)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=4), label="cuts")
    buffer, pdus, start = bytearray(), [], 0
    for cut in [*sorted(cuts), len(wire)]:  # arriving in pieces
        buffer += wire[start:cut]
        start = cut
        pdus += take_pdus(buffer)
    assert pdus == [Pdu(SUBMIT_SM, ESME_ROK, sequence, body), Pdu(ENQUIRE_LINK, ESME_ROK, sequence + 1)]
    assert not buffer
    assert SubmitSm.decode(pdus[0].body) == submit


@given(st.integers(0, 0xFFFF), st.integers(1, 255), st.data(), st.binary(max_size=134), st.booleans())
def test_a_concatenation_header_round_trips(ref: int, total: int, data: st.DataObject, text: bytes, wide: bool) -> None:
    seq = data.draw(st.integers(1, total))
    ref = ref if wide else ref & 0xFF
    assert split_udh(ESM_CLASS_UDHI, udh_concat(ref, total, seq, wide=wide) + text) == (Concat(ref, total, seq), text)
    assert split_udh(0, text) == (None, text)  # without UDHI the octets are all text


def test_a_concatenation_element_that_cannot_be_right_is_ignored() -> None:
    assert split_udh(ESM_CLASS_UDHI, udh_concat(7, 2, 3) + b"x") == (None, b"x")
    assert split_udh(ESM_CLASS_UDHI, bytes((3, 0x24, 1, 0)) + b"x") == (None, b"x")  # another element only
