"""Grounding an answer in the workspace's knowledge: the passages it reads, numbered.

The worker retrieves passages for the question (``knowledge.selectors.retrieve``, within
what the thread allows), keeps those relevant to it (``passages_relevant``: a question about
something else gets none, and its prompt no sources block at all), then the best of them that
fit a budget of the context window beside the thread, numbers them from 1 after the question
(not in the system prompt: the start of the prompt stays the same from turn to turn, so a
follow-up reuses the evaluated thread, ``llm.kept_states``), and records them on the answer
(``chat.citations.AnswerSource``), so the server can map the answer's ``[n]`` back to them.
"""

import logging
from typing import Protocol

from django.conf import settings
from django.urls import reverse

from chat.answering import KnowledgeScope
from chat.citations import AnswerSource
from knowledge.selectors import Passage, passages_relevant, retrieve
from workspace.models import Workspace

logger = logging.getLogger(__name__)

# Passages asked of retrieval; those that fit the budget are given to the model.
PASSAGES_CONSIDERED = 6


class ContextWindow(Protocol):
    """What the budget needs of a model (``LoadedModel`` has it)."""

    n_ctx: int

    def token_count(self, text: str) -> int: ...


def passages_for(scope: KnowledgeScope, model: ContextWindow) -> list[Passage]:
    """The best passages relevant to the question that fit together in the knowledge budget:
    at most ``KNOWLEDGE_CONTEXT_TOKENS`` and a third of the model's context (the rest is the
    thread's and the answer's). A failed retrieval answers without sources rather than not at
    all."""
    if not scope.used:
        return []
    try:
        found = retrieve(
            workspace=Workspace(pk=scope.workspace_id),
            query=scope.query,
            k=PASSAGES_CONSIDERED,
            source_ids=scope.source_ids,
        )
    except Exception:
        logger.exception("Retrieval failed; answering without the workspace's sources")
        return []
    return passages_in_budget(passages_relevant(found), model)


def passages_in_budget(passages: list[Passage], model: ContextWindow) -> list[Passage]:
    """Those of ``passages``, in order, that fit the knowledge budget together (one too long
    leaves room for a shorter one after it)."""
    budget = min(settings.KNOWLEDGE_CONTEXT_TOKENS, model.n_ctx // 3)
    kept: list[Passage] = []
    for passage in passages:
        cost = model.token_count(sources_block([*kept, passage]))
        if cost <= budget:
            kept.append(passage)
    return kept


def sources_block(passages: list[Passage]) -> str:
    """The passages as the model reads them after the question, numbered from 1, and how to
    cite them."""
    if not passages:
        return ""
    entries = "\n\n".join(
        f"[{number}] {passage.source_title}"
        + (f" ({passage.locator_label})" if passage.locator_label else "")
        + f":\n{passage.text}"
        for number, passage in enumerate(passages, start=1)
    )
    return (
        "Sources from the team's workspace:\n\n"
        f"{entries}\n\n"
        "Answer from these sources where they help. After each statement taken from a source, "
        "cite it by its number in square brackets, like [1]. Cite only the numbers above."
    )


def answer_sources(passages: list[Passage]) -> list[AnswerSource]:
    """The passages as the answer records them, numbered as the prompt numbers them."""
    return [
        {
            "number": number,
            "source_id": passage.source_id,
            "chunk_id": passage.chunk_id,
            "title": passage.source_title,
            "locator": passage.locator_label,
            "url": reverse("source-passage", args=[passage.source_id, passage.chunk_id]),
            "cited": False,
        }
        for number, passage in enumerate(passages, start=1)
    ]
