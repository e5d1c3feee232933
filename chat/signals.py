"""What chat tells the apps built on it."""

from django.dispatch import Signal

# An answer ended: whatever waited behind it on its model's queue moved up. Sent after the
# answers' own new places are broadcast; documents refreshes its writes' places on it.
reply_queue_moved = Signal()
