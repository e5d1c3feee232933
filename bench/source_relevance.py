"""Only relevant sources: what an answer is given of the workspace's passages, on the labelled
sets and on questions about something else, without the chat model (retrieval, the relevance
filter and the knowledge budget, counted in the bundled model's tokens). In the knowledge
section, and on its own in about a minute (``python -m bench.relevance_alone``):

- precision: the share of the passages given that are the labelled question's answer (one
  passage answers each question, so several given lower it);
- recall: the share of labelled questions given the passage that answers them;
- prompt_tokens_added_p50: the sources block's tokens, the median over the labelled questions;
- off_topic_with_passages: how many of ``OFF_TOPIC`` were given any passage (must be 0).

Each figure is also given for what answers were given before the filter (``unfiltered``: the
best passages that fit the budget, relevant or not). The 25 questions are asked of their own
five documents, the varied set's of both corpora together, the off-topic ones of both.
"""

import os
import statistics
import time
from collections.abc import Callable
from typing import Any, Protocol

from django.contrib.auth.models import User

from assistant.grounding import PASSAGES_CONSIDERED, passages_in_budget, sources_block
from knowledge.chunking import locator_label
from knowledge.embedding import embedding_model_name, relevance
from knowledge.models import Source
from knowledge.selectors import Passage, passages_relevant, retrieve
from knowledge.services import source_add_file, source_ingest
from workspace.models import Workspace

from . import knowledge_corpus, knowledge_corpus_varied
from .stats import r

# Questions that none of the labelled documents answers, as people ask an assistant in a team
# chat: code, general knowledge, small talk. Some share a word with a document ("list",
# "plot", "morning").
OFF_TOPIC = (
    "write a python function that reverses a list",
    "what is the capital of Australia",
    "explain how photosynthesis works",
    "translate good morning into Japanese",
    "who won the football world cup in 1998",
    "how do I centre a div in CSS",
    "what is the derivative of x squared",
    "recommend a good science fiction novel",
    "how far is the moon from the earth",
    "write a haiku about autumn leaves",
    "what is the difference between TCP and UDP",
    "how many legs does a spider have",
    "summarise the plot of Hamlet",
    "suggest a name for my pet goldfish",
    "how do black holes form",
    "thanks, that's all for now",
)


class Labelled(Protocol):
    """A passage or a chunk: what a label is checked against."""

    @property
    def locator(self) -> dict[str, Any]: ...

    @property
    def text(self) -> str: ...


def answers_by_heading(passage: Labelled, heading: str) -> bool:
    """The 25 questions' label: the heading of the passage that answers."""
    return locator_label(passage.locator) == heading


def answers_by_phrase(passage: Labelled, phrase: str) -> bool:
    """The varied set's label: a phrase only the answering passage holds."""
    return phrase in " ".join(passage.text.split())


def labelled_documents() -> dict[str, tuple[str, bytes]]:
    return {
        name: ("text/markdown", text.encode()) for name, text in knowledge_corpus.DOCUMENTS.items()
    }


def varied_documents() -> dict[str, tuple[str, bytes]]:
    return {
        name: (content_type, knowledge_corpus_varied.document_bytes(content))
        for name, (content_type, content) in knowledge_corpus_varied.DOCUMENTS.items()
    }


def corpus_make(documents: dict[str, tuple[str, bytes]], *, added_by: User) -> Workspace:
    """A workspace holding ``documents``, each read as the ingest worker reads it."""
    workspace = Workspace.objects.create(name="Labelled corpus")
    for name, (content_type, data) in documents.items():
        source = source_add_file(
            workspace=workspace,
            added_by=added_by,
            name=name,
            content_type=content_type,
            data=data,
        )
        source_ingest(source_id=source.pk, generation=source.generation)
        assert Source.objects.get(pk=source.pk).status == Source.Status.READY
    return workspace


class TokenCounter(Protocol):
    n_ctx: int

    def token_count(self, text: str) -> int: ...


class BundledTokenizer:
    """The bundled model's tokenizer alone (its vocabulary loaded, not its weights), with the
    context an answer gets: what ``passages_for`` needs of a model."""

    def __init__(self) -> None:
        from llama_cpp import Llama

        from llm.model import model_spec_from_settings

        spec = model_spec_from_settings()
        self.n_ctx = spec.n_ctx
        self._llama = Llama(model_path=str(spec.path), vocab_only=True, verbose=False)

    def token_count(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode(), add_bos=False, special=False))


Given = Callable[[list[Passage]], list[Passage]]


def measure(*, small: Workspace, both: Workspace, model: TokenCounter) -> dict[str, Any]:
    """The figures with the relevance filter, and ``unfiltered`` as answers had them before."""
    started = time.perf_counter()
    cases = [
        (small, question, heading, answers_by_heading)
        for question, heading in knowledge_corpus.LABELLED.items()
    ] + [
        (both, question, phrase, answers_by_phrase)
        for question, phrase in knowledge_corpus_varied.LABELLED.items()
    ]
    found = {(w.pk, q): retrieve(workspace=w, query=q, k=PASSAGES_CONSIDERED) for w, q, *_ in cases}
    off_topic = [retrieve(workspace=both, query=q, k=PASSAGES_CONSIDERED) for q in OFF_TOPIC]

    def figures(given: Given) -> dict[str, Any]:
        attached = relevant = answered = 0
        tokens = []
        for workspace, question, label, answers in cases:
            passages = passages_in_budget(given(found[workspace.pk, question]), model)
            hits = sum(answers(passage, label) for passage in passages)
            attached, relevant, answered = (
                attached + len(passages),
                relevant + hits,
                answered + bool(hits),
            )
            tokens.append(model.token_count(sources_block(passages)) if passages else 0)
        return {
            "precision": r(relevant / attached, 3) if attached else None,
            "recall": r(answered / len(cases), 3),
            "prompt_tokens_added_p50": statistics.median(tokens),
            "passages_per_question": r(attached / len(cases), 2),
            "questions_without_passages": tokens.count(0),
            "off_topic_with_passages": sum(bool(given(each)) for each in off_topic),
        }

    thresholds = relevance()
    return figures(passages_relevant) | {
        "questions": len(cases),
        "off_topic_questions": len(OFF_TOPIC),
        "embedder": embedding_model_name(),
        "threshold": thresholds.similarity,
        "threshold_best_word_matches": r(thresholds.with_words, 3),
        "unfiltered": figures(lambda passages: passages),
        "seconds": r(time.perf_counter() - started, 2),
        "load_average": r(os.getloadavg()[0], 2),
    }
