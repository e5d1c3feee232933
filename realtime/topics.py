"""Topic names: the channel-layer groups that events are published to, defined in one place.

A topic is one stream of events that a socket can follow: a thread's messages, a workspace's
navigation (which thread was last active), a document's changes and presence, or everything
that concerns one person's account (which tells their sockets to check their access again).
"""


def thread_topic(thread_id: int) -> str:
    return f"thread.{thread_id}"


def user_topic(user_id: int) -> str:
    return f"user.{user_id}"


def workspace_topic(workspace_id: int) -> str:
    """What changes a workspace's navigation: threads started or active, for its sidebar."""
    return f"workspace.{workspace_id}"


def document_topic(document_id: int) -> str:
    return f"document.{document_id}"


def sources_topic(workspace_id: int) -> str:
    """A workspace's knowledge sources: added, progressing, ready, failed, removed."""
    return f"sources.{workspace_id}"


def completion_topic(job_id: str) -> str:
    """One OpenAI-compatible completion's events, from its model worker to its request."""
    return f"completion.{job_id}"


def catch_up_topic(catch_up_id: int) -> str:
    """One person's catch-up summary of a thread, as it is written: only that person's
    catch-up socket follows it."""
    return f"catch-up.{catch_up_id}"


def inbox_topic(user_id: int) -> str:
    """One person's notifications: new ones and their unread count, for the bell on every page.

    Apart from ``user.<id>``, which every socket of the person follows for access checks, so
    that only the inbox socket is handed notifications.
    """
    return f"inbox.{user_id}"
