"""Embeddings from a GGUF through llama-cpp-python, when one is configured, and back.

SmolLM2 (the bundled chat model) stands in for an embedding GGUF: it retrieves poorly, but it
exercises the whole path (load with embedding=True, pooled, normalised, stored with the
model's name and dimension) and a change of model in both directions.
"""

from collections.abc import Iterator

import numpy as np
import pytest

from knowledge.embedding import StaticEmbedder, embedder_get, embedding_model_name
from knowledge.models import Chunk
from knowledge.services import chunks_reembed, source_add_file, source_ingest
from llm.model import BUNDLED_FILE, bundled_model_path

from .conftest import Team
from .knowledge_samples import MARKDOWN

pytestmark = [pytest.mark.model, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def gguf_embeddings(settings: object) -> Iterator[None]:
    embedder_get.cache_clear()
    settings.KNOWLEDGE_EMBEDDING_MODEL_PATH = str(bundled_model_path())  # type: ignore[attr-defined]
    yield
    embedder_get.cache_clear()


def test_a_configured_gguf_embeds_the_passages_and_a_change_back_re_embeds_them(
    team: Team, sent_tasks: list, gguf_embeddings: None, settings: object
) -> None:
    source = source_add_file(
        workspace=team.workspace,
        added_by=team.owner,
        name="handbook.md",
        content_type="",
        data=MARKDOWN.encode(),
    )
    source_ingest(source_id=source.pk, generation=source.generation)

    chunks = list(Chunk.objects.filter(source=source))
    assert chunks
    name = f"gguf/{BUNDLED_FILE}"
    assert embedding_model_name() == name
    dimension = embedder_get().dimension
    assert dimension > 0
    assert {(c.embedding_model, c.dimension) for c in chunks} == {(name, dimension)}
    vector = np.frombuffer(bytes(chunks[0].embedding or b""), dtype=np.float32)
    assert vector.shape == (dimension,)
    assert abs(float(np.linalg.norm(vector)) - 1) < 1e-3

    settings.KNOWLEDGE_EMBEDDING_MODEL_PATH = ""  # type: ignore[attr-defined]
    embedder_get.cache_clear()
    assert chunks_reembed() == len(chunks)
    assert set(Chunk.objects.values_list("embedding_model", "dimension")) == {
        (StaticEmbedder.name, StaticEmbedder.dimension)
    }
