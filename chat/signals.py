"""What chat tells the apps above it, as Django signals: chat imports none of its listeners.

Both are sent inside the transaction that makes the change, like Django's own model signals;
a receiver that acts on the change defers its work with ``transaction.on_commit`` (which also
drops it if the transaction rolls back).

==================  ==========================================================================
signal              sent with
==================  ==========================================================================
message_posted      ``message``: a person's new message; ``mentioned``: the ids of the
                    workspace's members its text mentions (``selectors.mentions_resolve``)
message_edited      ``message``: a person's message, as its author just changed it;
                    ``newly_mentioned``: the ids of the members it mentions now and did
                    not before (never its author)
answer_ended        ``answer``: an assistant's answer; ``job``: its model job, just ended
                    (``status`` done, stopped, failed or interrupted; ``stopped_by_id``)
==================  ==========================================================================
"""

from django.dispatch import Signal

message_posted = Signal()
message_edited = Signal()
answer_ended = Signal()
