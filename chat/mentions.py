"""Recognising a mention of the assistant in a message."""

import re
from functools import cache

from django.conf import settings


@cache
def _mention_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w@])@{re.escape(name)}(?![\w-])", re.IGNORECASE)


def mentions_assistant(body: str) -> bool:
    return bool(_mention_pattern(settings.ASSISTANT_NAME).search(body))
