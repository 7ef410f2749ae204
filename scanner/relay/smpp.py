"""SMPP 3.4 on the wire, as much as the SMSC simulator (``scanner.relay.smsc_sim``) and its tests need:
command ids and statuses, PDU framing, the bind and submit_sm/deliver_sm bodies with their optional
parameters, concatenation headers (UDH and SAR), text codings, and delivery receipt texts."""

from __future__ import annotations

import re
import struct
import time
from dataclasses import dataclass, field

# Command ids. A response is its request's id with the top bit set.
GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
QUERY_SM = 0x00000003
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015
RESPONSE = 0x80000000
SUBMIT_SM_RESP = SUBMIT_SM | RESPONSE
DELIVER_SM_RESP = DELIVER_SM | RESPONSE
UNBIND_RESP = UNBIND | RESPONSE
ENQUIRE_LINK_RESP = ENQUIRE_LINK | RESPONSE
BINDS = (BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER)

# command_status values.
ESME_ROK = 0x00000000
ESME_RINVMSGLEN = 0x00000001
ESME_RINVCMDLEN = 0x00000002
ESME_RINVCMDID = 0x00000003
ESME_RINVBNDSTS = 0x00000004
ESME_RALYBND = 0x00000005
ESME_RSYSERR = 0x00000008
ESME_RINVPASWD = 0x0000000E
ESME_RINVSYSID = 0x0000000F
ESME_RSUBMITFAIL = 0x00000045

# Optional parameters (TLV tags).
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_SAR_MSG_REF_NUM = 0x020C
TLV_SAR_TOTAL_SEGMENTS = 0x020E
TLV_SAR_SEGMENT_SEQNUM = 0x020F
TLV_MESSAGE_PAYLOAD = 0x0424
TLV_MESSAGE_STATE = 0x0427

# message_state values in a receipt.
STATE_ENROUTE = 1
STATE_DELIVERED = 2
STATE_UNDELIVERABLE = 5

ESM_CLASS_UDHI = 0x40
ESM_CLASS_RECEIPT = 0x04
DATA_CODING_UCS2 = 0x08

HEADER = struct.Struct(">IIII")  # command_length, command_id, command_status, sequence_number
MAX_PDU = 64 * 1024
MODES = ("deliver", "undeliver", "reject")

DELIVRD = "DELIVRD"
UNDELIV = "UNDELIV"
ENROUTE = "ENROUTE"
REJECTD = "REJECTD"


class PduError(ValueError):
    """A PDU or PDU body that cannot be read; ``status`` is the command_status to answer with."""

    def __init__(self, message: str, status: int = ESME_RSYSERR) -> None:
        super().__init__(message)
        self.status = status


# --- PDUs on the wire -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pdu:
    command_id: int
    status: int
    sequence: int
    body: bytes = b""


def encode_pdu(command_id: int, sequence: int, body: bytes = b"", status: int = ESME_ROK) -> bytes:
    """One whole PDU: the 16-byte header, then the body."""
    return HEADER.pack(HEADER.size + len(body), command_id, status, sequence) + body


def take_pdus(buffer: bytearray) -> list[Pdu]:
    """Remove the complete PDUs at the start of ``buffer`` and return them; a partial one stays.

    Raises ``PduError`` (``ESME_RINVCMDLEN``) for a command_length no PDU can have."""
    pdus: list[Pdu] = []
    offset = 0
    try:
        while len(buffer) - offset >= 4:
            (length,) = struct.unpack_from(">I", buffer, offset)
            if length < HEADER.size or length > MAX_PDU:
                raise PduError(f"command_length {length} is outside {HEADER.size}..{MAX_PDU}", ESME_RINVCMDLEN)
            if len(buffer) - offset < length:
                break
            _, command_id, status, sequence = HEADER.unpack_from(buffer, offset)
            pdus.append(Pdu(command_id, status, sequence, bytes(buffer[offset + HEADER.size : offset + length])))
            offset += length
    finally:
        del buffer[:offset]
    return pdus


def cstring(value: str) -> bytes:
    """A C-octet string (latin-1, NUL-terminated)."""
    if "\0" in value:
        raise ValueError("a C-octet string cannot hold NUL")
    return value.encode("latin-1") + b"\0"


class _Reader:
    """Reads the fields of a PDU body in order."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.offset = 0

    def cstring(self) -> str:
        end = self.body.find(b"\0", self.offset)
        if end < 0:
            raise PduError(f"C-octet string at byte {self.offset} has no NUL", ESME_RINVCMDLEN)
        value = self.body[self.offset : end].decode("latin-1")
        self.offset = end + 1
        return value

    def octet(self) -> int:
        if self.offset >= len(self.body):
            raise PduError(f"body ends at byte {self.offset}, before a 1-octet field", ESME_RINVCMDLEN)
        value = self.body[self.offset]
        self.offset += 1
        return value

    def octets(self, count: int) -> bytes:
        if self.offset + count > len(self.body):
            raise PduError(f"body ends before the {count} octets at byte {self.offset}", ESME_RINVMSGLEN)
        value = self.body[self.offset : self.offset + count]
        self.offset += count
        return value

    def rest(self) -> bytes:
        value = self.body[self.offset :]
        self.offset = len(self.body)
        return value


def encode_tlvs(tlvs: dict[int, bytes]) -> bytes:
    out = bytearray()
    for tag, value in tlvs.items():
        if len(value) > 0xFFFF:
            raise ValueError(f"TLV 0x{tag:04X} is longer than 65535 octets")
        out += struct.pack(">HH", tag, len(value)) + value
    return bytes(out)


def decode_tlvs(data: bytes) -> dict[int, bytes]:
    tlvs: dict[int, bytes] = {}
    offset = 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise PduError(f"TLV header at byte {offset} is cut short", ESME_RINVCMDLEN)
        tag, length = struct.unpack_from(">HH", data, offset)
        if offset + 4 + length > len(data):
            raise PduError(f"TLV 0x{tag:04X} says {length} octets, fewer follow", ESME_RINVCMDLEN)
        tlvs[tag] = data[offset + 4 : offset + 4 + length]
        offset += 4 + length
    return tlvs


@dataclass(frozen=True)
class Bind:
    """The body of bind_transmitter, bind_receiver and bind_transceiver."""

    system_id: str
    password: str
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""

    def encode(self) -> bytes:
        return (
            cstring(self.system_id)
            + cstring(self.password)
            + cstring(self.system_type)
            + bytes((self.interface_version, self.addr_ton, self.addr_npi))
            + cstring(self.address_range)
        )

    @classmethod
    def decode(cls, body: bytes) -> Bind:
        read = _Reader(body)
        return cls(
            read.cstring(), read.cstring(), read.cstring(), read.octet(), read.octet(), read.octet(), read.cstring()
        )


@dataclass(frozen=True)
class SubmitSm:
    """The body of submit_sm; deliver_sm has the same fields, so it encodes receipts too."""

    source_addr: str
    destination_addr: str
    short_message: bytes = b""
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def payload(self) -> bytes:
        """The message: the message_payload parameter where there is one, else short_message."""
        return self.tlvs.get(TLV_MESSAGE_PAYLOAD, self.short_message)

    def encode(self) -> bytes:
        if len(self.short_message) > 255:
            raise ValueError("short_message is longer than 255 octets (use message_payload)")
        return (
            cstring(self.service_type)
            + bytes((self.source_addr_ton, self.source_addr_npi))
            + cstring(self.source_addr)
            + bytes((self.dest_addr_ton, self.dest_addr_npi))
            + cstring(self.destination_addr)
            + bytes((self.esm_class, self.protocol_id, self.priority_flag))
            + cstring(self.schedule_delivery_time)
            + cstring(self.validity_period)
            + bytes(
                (
                    self.registered_delivery,
                    self.replace_if_present_flag,
                    self.data_coding,
                    self.sm_default_msg_id,
                    len(self.short_message),
                )
            )
            + self.short_message
            + encode_tlvs(self.tlvs)
        )

    @classmethod
    def decode(cls, body: bytes) -> SubmitSm:
        read = _Reader(body)
        service_type = read.cstring()
        source_ton, source_npi, source = read.octet(), read.octet(), read.cstring()
        dest_ton, dest_npi, dest = read.octet(), read.octet(), read.cstring()
        esm_class, protocol_id, priority = read.octet(), read.octet(), read.octet()
        schedule, validity = read.cstring(), read.cstring()
        registered, replace, coding, default_id, length = (read.octet() for _ in range(5))
        short_message = read.octets(length)
        return cls(
            source_addr=source,
            destination_addr=dest,
            short_message=short_message,
            service_type=service_type,
            source_addr_ton=source_ton,
            source_addr_npi=source_npi,
            dest_addr_ton=dest_ton,
            dest_addr_npi=dest_npi,
            esm_class=esm_class,
            protocol_id=protocol_id,
            priority_flag=priority,
            schedule_delivery_time=schedule,
            validity_period=validity,
            registered_delivery=registered,
            replace_if_present_flag=replace,
            data_coding=coding,
            sm_default_msg_id=default_id,
            tlvs=decode_tlvs(read.rest()),
        )


DeliverSm = SubmitSm


@dataclass(frozen=True)
class Concat:
    """Where a part stands in a concatenated message."""

    ref: int
    total: int
    seq: int


def udh_concat(ref: int, total: int, seq: int, *, wide: bool = False) -> bytes:
    """A user data header with one concatenation element: 0x00 (8-bit ref) or, ``wide``, 0x08 (16-bit)."""
    if wide:
        return bytes((6, 0x08, 4)) + struct.pack(">HBB", ref, total, seq)
    return bytes((5, 0x00, 3, ref, total, seq))


def split_udh(esm_class: int, payload: bytes) -> tuple[Concat | None, bytes]:
    """The concatenation element of the payload's UDH (when UDHI is set) and the text after the UDH.

    An element that cannot be right (total or seq 0, seq past total) counts as none."""
    if not esm_class & ESM_CLASS_UDHI or not payload:
        return None, payload
    header_end = 1 + payload[0]
    if header_end > len(payload):
        raise PduError(f"UDH says {payload[0]} octets, the message has {len(payload) - 1}", ESME_RINVMSGLEN)
    concat: Concat | None = None
    offset = 1
    while offset + 2 <= header_end:
        iei, length = payload[offset], payload[offset + 1]
        data = payload[offset + 2 : offset + 2 + length]
        if iei == 0x00 and len(data) == 3:
            concat = Concat(data[0], data[1], data[2])
        elif iei == 0x08 and len(data) == 4:
            ref, total, seq = struct.unpack(">HBB", data)
            concat = Concat(ref, total, seq)
        offset += 2 + length
    if concat is not None and not 1 <= concat.seq <= concat.total:
        concat = None
    return concat, payload[header_end:]


def sar_concat(tlvs: dict[int, bytes]) -> Concat | None:
    """Concatenation by the SAR parameters, for an ESME that sends those instead of a UDH."""
    try:
        ref = int.from_bytes(tlvs[TLV_SAR_MSG_REF_NUM], "big")
        total = int.from_bytes(tlvs[TLV_SAR_TOTAL_SEGMENTS], "big")
        seq = int.from_bytes(tlvs[TLV_SAR_SEGMENT_SEQNUM], "big")
    except KeyError:
        return None
    return Concat(ref, total, seq) if 1 <= seq <= total else None


def decode_text(data_coding: int, data: bytes) -> str:
    """UCS-2 (data_coding 8) as UTF-16-BE; anything else octet by octet as latin-1."""
    if data_coding == DATA_CODING_UCS2:
        return data.decode("utf-16-be", errors="replace")
    return data.decode("latin-1")


_RECEIPT_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err):(\S*)")


def receipt_fields(text: str) -> dict[str, str]:
    """The fields of a receipt's text (``id``, ``sub``, ``dlvrd``, ``submit date``, ``done date``,
    ``stat``, ``err``, ``text``)."""
    head, marker, rest = text.partition("text:")
    fields = dict(_RECEIPT_FIELD.findall(head))
    if marker:
        fields["text"] = rest
    return fields


def receipt_text(message_id: str, stat: str, err: str, submitted: float, done: float) -> str:
    """The text of a delivery receipt (SMPP 3.4 appendix B), with an empty ``text:``."""
    delivered = "001" if stat == DELIVRD else "000"
    return (
        f"id:{message_id} sub:001 dlvrd:{delivered} submit date:{_smpp_date(submitted)} "
        f"done date:{_smpp_date(done)} stat:{stat} err:{err} text:"
    )


def _smpp_date(at: float) -> str:
    return time.strftime("%y%m%d%H%M", time.localtime(at))
