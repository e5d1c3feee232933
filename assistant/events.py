"""Events of a catch-up as it is written, to its own topic (``catch-up.<id>``), which only the
catch-up socket of the person who asked for it follows (``assistant.consumers``).

==================  ====================================================================
event type          payload
==================  ====================================================================
catch_up.frame      ``catch_up_id``, ``seq`` (1, 2, ...) and ``text``: the whole summary
                    so far (one reader, a short text: any frame alone brings the page up
                    to date, so a missed one leaves no hole)
catch_up.status     ``catch_up_id``: it started, ended or moved up its queue; the socket
                    reads it again (one row) and sends the whole panel
==================  ====================================================================

No HTML travels: the socket renders each event (``assistant.rendering``).
"""

from realtime.contract import EventModel
from realtime.publish import publish
from realtime.topics import catch_up_topic


class CatchUpEvent(EventModel):
    catch_up_id: int


class CatchUpFrame(CatchUpEvent):
    type = "catch_up.frame"
    seq: int
    text: str


class CatchUpStatus(CatchUpEvent):
    type = "catch_up.status"


def catch_up_frame_publish(catch_up_id: int, *, seq: int, text: str) -> None:
    publish(catch_up_topic(catch_up_id), CatchUpFrame(catch_up_id=catch_up_id, seq=seq, text=text))


def catch_up_status_publish(catch_up_id: int) -> None:
    publish(catch_up_topic(catch_up_id), CatchUpStatus(catch_up_id=catch_up_id))
