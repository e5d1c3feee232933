"""A client for Roundtable's API (``/api/``): ask a thread and stream the answer, poll, stop."""

from .client import Answer, AnswerFailed, Client, RoundtableError

__all__ = ["Answer", "AnswerFailed", "Client", "RoundtableError"]
