"""The embedders: the static default pools token vectors a batch at a time, and a change of
built-in embedder re-embeds the passages with the new one, its name stored with each vector."""

from collections.abc import Iterator

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from knowledge.embedding import (
    E5Embedder,
    Relevance,
    StaticEmbedder,
    embedder_get,
    embedding_model_name,
    relevance,
    vector_margin,
)
from knowledge.models import Chunk
from knowledge.selectors import retrieve
from knowledge.services import chunks_reembed, source_add_file, source_ingest

from .conftest import Team
from .knowledge_samples import MARKDOWN


@pytest.fixture
def embedder_reset() -> Iterator[None]:
    """Each process loads its embedder once: a test that changes the setting loads another."""
    embedder_get.cache_clear()
    yield
    embedder_get.cache_clear()


def test_a_batch_gets_the_vectors_each_text_gets_alone() -> None:
    embedder = StaticEmbedder()
    texts = [
        "Laptops must use full-disk encryption.",
        "",
        "Fish and chips on Friday, apple crumble for dessert.",
        "A long passage. " * 200,
    ]

    batch = embedder.passages(texts)

    assert batch.shape == (len(texts), embedder.dimension)
    assert batch.dtype == np.float32
    for text, vector in zip(texts, batch, strict=True):
        np.testing.assert_allclose(vector, embedder.passages([text])[0], atol=1e-6)
    norms = np.linalg.norm(batch, axis=1)
    np.testing.assert_allclose(norms[[0, 2, 3]], 1, atol=1e-5)
    assert norms[1] == 0  # nothing to say: a zero vector, close to nothing
    assert embedder.passages([]).shape == (0, embedder.dimension)


def test_a_question_is_nearest_the_passage_that_answers_it() -> None:
    embedder = StaticEmbedder()
    passages = embedder.passages([
        "Beef stew with dumplings, and a vegan chickpea stew.",
        "The guest wireless network is called Orchard; its password changes every Monday.",
        "Submit receipts within thirty days; finance reimburses them monthly.",
    ])  # fmt: skip

    scores = passages @ embedder.query("what is the wifi password for visitors")

    assert int(np.argmax(scores)) == 1


def test_an_unknown_embedder_is_refused_with_the_choices(
    settings: object, embedder_reset: None
) -> None:
    settings.KNOWLEDGE_EMBEDDER = "bert"  # type: ignore[attr-defined]

    with pytest.raises(ImproperlyConfigured, match='"static" or "e5"'):
        embedding_model_name()


def test_the_vector_margin_is_the_embedders_own_unless_one_is_set(settings: object) -> None:
    settings.KNOWLEDGE_VECTOR_MARGIN = None  # type: ignore[attr-defined]
    assert vector_margin() == StaticEmbedder.margin
    settings.KNOWLEDGE_EMBEDDER = "e5"  # type: ignore[attr-defined]
    assert vector_margin() == E5Embedder.margin
    settings.KNOWLEDGE_VECTOR_MARGIN = 0.2  # type: ignore[attr-defined]
    assert vector_margin() == 0.2


def test_the_relevance_threshold_is_the_embedders_own_unless_one_is_set(settings: object) -> None:
    settings.KNOWLEDGE_RELEVANCE_THRESHOLD = None  # type: ignore[attr-defined]
    static, e5 = StaticEmbedder, E5Embedder
    assert relevance() == Relevance(
        static.relevance, static.relevance - static.word_match_allowance
    )
    settings.KNOWLEDGE_EMBEDDER = "e5"  # type: ignore[attr-defined]
    assert relevance() == Relevance(e5.relevance, e5.relevance - e5.word_match_allowance)
    settings.KNOWLEDGE_EMBEDDING_MODEL_PATH = "/models/any.gguf"  # type: ignore[attr-defined]
    assert relevance().similarity == -1.0, "an unknown model's scale: every passage counts"
    settings.KNOWLEDGE_EMBEDDING_MODEL_PATH = ""  # type: ignore[attr-defined]
    settings.KNOWLEDGE_RELEVANCE_THRESHOLD = 0.9  # type: ignore[attr-defined]
    assert relevance() == Relevance(0.9, 0.9 - e5.word_match_allowance)


@pytest.mark.django_db(transaction=True)
def test_choosing_e5_re_embeds_the_passages_and_retrieval_uses_its_vectors(
    team: Team, sent_tasks: list, settings: object, embedder_reset: None
) -> None:
    source = source_add_file(
        workspace=team.workspace,
        added_by=team.owner,
        name="handbook.md",
        content_type="",
        data=MARKDOWN.encode(),
    )
    source_ingest(source_id=source.pk, generation=source.generation)
    count = Chunk.objects.filter(source=source).count()
    assert set(Chunk.objects.values_list("embedding_model", flat=True)) == {StaticEmbedder.name}

    settings.KNOWLEDGE_EMBEDDER = "e5"  # type: ignore[attr-defined]
    embedder_get.cache_clear()

    assert embedding_model_name() == E5Embedder.name
    assert chunks_reembed() == count
    assert set(Chunk.objects.values_list("embedding_model", "dimension")) == {
        (E5Embedder.name, E5Embedder.dimension)
    }
    found = retrieve(workspace=team.workspace, query="vacation days", k=1)
    assert found
    assert "holiday" in found[0].text.lower()
