"""A cited passage, shown where it stands in its source, highlighted.

An answer's sources link here (``chat.citations``): members of the source's workspace see the
passage with the passages around it; anyone else gets 404, as for an unknown id.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from workspace.http import AuthenticatedHttpRequest

from .chunking import locator_label
from .selectors import source_access_get

# Passages shown before and after the cited one.
PASSAGES_AROUND = 2


@require_GET
@login_required
def source_passage_view(
    request: AuthenticatedHttpRequest, source_id: int, chunk_id: int
) -> HttpResponse:
    source = source_access_get(user=request.user, source_id=source_id).source
    cited = source.chunks.filter(pk=chunk_id).only("ordinal").first()
    if cited is None:
        raise Http404("No such passage: the source may have been read again since.")
    around = source.chunks.filter(
        ordinal__gte=cited.ordinal - PASSAGES_AROUND, ordinal__lte=cited.ordinal + PASSAGES_AROUND
    ).order_by("ordinal")
    passages = [
        {"text": chunk.text, "where": locator_label(chunk.locator), "cited": chunk.pk == cited.pk}
        for chunk in around.only("pk", "text", "locator")
    ]
    return render(request, "knowledge/passage.html", {"source": source, "passages": passages})
