"""A catch-up as HTML: the panel above the transcript, and its summary with its citations.

The same templates serve the page (``assistant.views``) and the socket (``assistant
.consumers``). The summary's ``[n]`` link to the message the model was given as n, in its
place in the thread (``/t/<id>/#message-<id>``); any other number is struck through, never
linked (``chat.citations.markdown_with_markers``).
"""

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString

from chat.citations import markdown_with_markers
from chat.models import Thread
from jobs.selectors import job_places

from .models import CatchUp

UNBACKED = "No message given to the assistant has this number"


def catch_up_summary_html(catch_up: CatchUp) -> SafeString:
    thread_url = reverse("thread-detail", args=[catch_up.thread_id])
    given = {entry["number"]: entry["message_id"] for entry in catch_up.given}

    def href(number: int) -> str | None:
        message_id = given.get(number)
        return None if message_id is None else f"{thread_url}#message-{message_id}"

    return markdown_with_markers(catch_up.body, href=href, unbacked=UNBACKED)


def catch_up_body_html(catch_up: CatchUp, *, oob: bool = False) -> str:
    """The summary as it now stands (a frame's, over the socket)."""
    return render_to_string(
        "assistant/_catch_up_body.html",
        {"catch_up": catch_up, "summary": catch_up_summary_html(catch_up), "oob": oob},
    )


def catch_up_panel_html(
    *, thread: Thread, catch_up: CatchUp | None, missed: int, after: int, oob: bool = False
) -> str:
    """The panel: ``catch_up`` as it stands, or, without one, the button when ``missed``
    messages wait after message ``after``, or nothing (kept, hidden, for later swaps)."""
    ahead = None
    if catch_up is not None and catch_up.job.status == catch_up.job.Status.QUEUED:
        ahead = job_places([catch_up.job]).get(catch_up.job_id)
    context = {
        "thread": thread,
        "catch_up": catch_up,
        "summary": catch_up_summary_html(catch_up) if catch_up else "",
        "ahead": ahead,
        "missed": missed,
        "after": after,
        "oob": oob,
    }
    return render_to_string("assistant/_catch_up.html", context)
