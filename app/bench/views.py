from typing import Any

from django.core.paginator import Paginator
from django.http import Http404, JsonResponse

from .models import LISTED


def customer_list(request, kind: str) -> JsonResponse:
    """One page of 1,000 rows as JSON, shaped like the customer API's list: login and the model's view
    permission required, paginated (count query + page query), every field serialised in full."""
    # The bench models share their field names, not a base class: their rows are read by name.
    model: type[Any] | None = LISTED.get(kind)
    if model is None:
        raise Http404(kind)
    if not request.user.is_authenticated:
        return JsonResponse({"error": "not_authenticated"}, status=401)
    if not request.user.has_perm(f"bench.view_{model._meta.model_name}"):
        return JsonResponse({"error": "permission_denied"}, status=403)
    page = Paginator(model._default_manager.order_by("id"), 1000).page(int(request.GET.get("page", "1")))
    results = [
        {
            "id": row.pk,
            "created_at": row.created_at.isoformat(),
            "updated_at": row.updated_at.isoformat(),
            "full_name": row.full_name,
            "email": row.email,
            "national_id": row.national_id,
            "date_of_birth": row.date_of_birth.isoformat() if row.date_of_birth else None,
            "notes": row.notes,
        }
        for row in page.object_list
    ]
    return JsonResponse({"count": page.paginator.count, "results": results})
