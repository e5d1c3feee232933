"""What documents tell the apps above them, as Django signals: documents imports none of
their listeners.

``write_ended`` is sent inside the transaction that ends a write, with ``write`` (the
``DocumentWrite``) and ``job`` (its model job, just ended: ``status`` done, stopped, failed or
interrupted; ``stopped_by_id``). A receiver that acts on it defers its work with
``transaction.on_commit``.
"""

from django.dispatch import Signal

write_ended = Signal()
