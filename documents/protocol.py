"""The y-websocket protocol, as the browser's ``WebsocketProvider`` speaks it.

Each binary frame is a ``varUint`` message type and a payload:
- 0 SYNC, then a ``varUint`` step: 0 STEP1 (a state vector: "what I have"), 1 STEP2 (an
  update: "what you lacked"), 2 UPDATE (a change as it happens); the payload a ``varUint8Array``;
- 1 AWARENESS (presence: who is here, their cursor), a ``varUint8Array`` holding
  ``varUint count`` and, per client, ``varUint clientID, varUint clock, varString JSON state``;
- 3 QUERY_AWARENESS (no payload): "send me everyone's presence".

Presence is re-stamped here: whatever name or colour a client claims, others see the name and
colour of the account behind its socket, and a socket speaks only for its own client.
"""

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

MESSAGE_SYNC = 0
MESSAGE_AWARENESS = 1
MESSAGE_QUERY_AWARENESS = 3
SYNC_STEP1 = 0
SYNC_STEP2 = 1
SYNC_UPDATE = 2
MAX_VAR_UINT_BYTES = 8  # up to 2**56: more than any length or client id we accept


class ProtocolError(ValueError):
    """A frame that is not y-websocket, said in words for the person whose editor sent it."""


class Kind(Enum):
    SYNC_STEP1 = "sync_step1"
    SYNC_STEP2 = "sync_step2"
    SYNC_UPDATE = "sync_update"
    AWARENESS = "awareness"
    QUERY_AWARENESS = "query_awareness"


@dataclass(frozen=True)
class Incoming:
    kind: Kind
    payload: bytes = b""


class Reader:
    """lib0's variable-length encoding, read from the front of ``data``."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def uint8(self) -> int:
        if self._at >= len(self._data):
            raise ProtocolError("That change could not be read (truncated frame).")
        self._at += 1
        return self._data[self._at - 1]

    def var_uint(self) -> int:
        value = shift = 0
        for _ in range(MAX_VAR_UINT_BYTES):
            if self._at >= len(self._data):
                raise ProtocolError("That change could not be read (truncated frame).")
            byte = self._data[self._at]
            self._at += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7
        raise ProtocolError("That change could not be read (number too long).")

    def var_bytes(self) -> bytes:
        length = self.var_uint()
        end = self._at + length
        if end > len(self._data):
            raise ProtocolError("That change could not be read (truncated frame).")
        chunk = self._data[self._at : end]
        self._at = end
        return chunk

    def var_string(self) -> str:
        try:
            return self.var_bytes().decode()
        except UnicodeDecodeError as exc:
            raise ProtocolError("Presence could not be read (not UTF-8).") from exc


def _var_uint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def deletion_update(client: int, clock: int) -> bytes:
    """A Yjs update (v1) that deletes one item, ``(client, clock)``, and adds nothing."""
    no_structs, one = _var_uint(0), _var_uint(1)
    return no_structs + one + _var_uint(client) + one + _var_uint(clock) + one


def _var_bytes(data: bytes) -> bytes:
    return _var_uint(len(data)) + data


def message_read(frame: bytes) -> Incoming:
    reader = Reader(frame)
    message_type = reader.var_uint()
    if message_type == MESSAGE_SYNC:
        step = reader.var_uint()
        kinds = {
            SYNC_STEP1: Kind.SYNC_STEP1,
            SYNC_STEP2: Kind.SYNC_STEP2,
            SYNC_UPDATE: Kind.SYNC_UPDATE,
        }
        if step not in kinds:
            raise ProtocolError(f"Unknown sync step {step}.")
        return Incoming(kinds[step], reader.var_bytes())
    if message_type == MESSAGE_AWARENESS:
        return Incoming(Kind.AWARENESS, reader.var_bytes())
    if message_type == MESSAGE_QUERY_AWARENESS:
        return Incoming(Kind.QUERY_AWARENESS)
    raise ProtocolError(f"Unknown message type {message_type}.")


def sync_step1(state_vector: bytes) -> bytes:
    return _var_uint(MESSAGE_SYNC) + _var_uint(SYNC_STEP1) + _var_bytes(state_vector)


def sync_step2(update: bytes) -> bytes:
    return _var_uint(MESSAGE_SYNC) + _var_uint(SYNC_STEP2) + _var_bytes(update)


def sync_update(update: bytes) -> bytes:
    return _var_uint(MESSAGE_SYNC) + _var_uint(SYNC_UPDATE) + _var_bytes(update)


def awareness(update: bytes) -> bytes:
    return _var_uint(MESSAGE_AWARENESS) + _var_bytes(update)


QUERY_AWARENESS = _var_uint(MESSAGE_QUERY_AWARENESS)


def state_vector_read(state_vector: bytes) -> dict[int, int]:
    """``{client: clock}``: how many items of each client a state holds."""
    reader = Reader(state_vector)
    return {reader.var_uint(): reader.var_uint() for _ in range(reader.var_uint())}


@dataclass(frozen=True)
class Presence:
    """One client's awareness entry: ``state`` None means "gone"."""

    client_id: int
    clock: int
    state: dict[str, Any] | None


def awareness_read(update: bytes) -> list[Presence]:
    reader = Reader(update)
    entries = []
    for _ in range(reader.var_uint()):
        client_id, clock = reader.var_uint(), reader.var_uint()
        try:
            state = json.loads(reader.var_string())
        except (ValueError, RecursionError) as exc:
            raise ProtocolError("Presence could not be read (not JSON).") from exc
        if state is not None and not isinstance(state, dict):
            raise ProtocolError("Presence could not be read (not an object).")
        entries.append(Presence(client_id, clock, state))
    return entries


def awareness_write(entries: list[Presence]) -> bytes:
    out = bytearray(_var_uint(len(entries)))
    for entry in entries:
        out += _var_uint(entry.client_id) + _var_uint(entry.clock)
        out += _var_bytes(json.dumps(entry.state, separators=(",", ":")).encode())
    return bytes(out)


def presence_restamp(
    entries: list[Presence], *, client_id: int, user: dict[str, str]
) -> list[Presence]:
    """Keep only ``client_id``'s entries, each naming ``user`` whatever it claimed."""
    return [
        Presence(
            entry.client_id,
            entry.clock,
            None if entry.state is None else {**entry.state, "user": user},
        )
        for entry in entries
        if entry.client_id == client_id
    ]
