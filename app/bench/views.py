from django.http import Http404, JsonResponse

from .models import MODELS


def customer_list(request, kind: str) -> JsonResponse:
    """Every row as JSON, serialised like the customer API's full view; login required as there."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": "not_authenticated"}, status=401)
    model = MODELS.get(kind)
    if model is None:
        raise Http404(kind)
    results = [
        {
            "id": row.pk,
            "full_name": row.full_name,
            "email": row.email,
            "national_id": row.national_id,
            "date_of_birth": row.date_of_birth.isoformat() if row.date_of_birth else None,
            "notes": row.notes,
            "created_at": row.created_at.isoformat(),
            "updated_at": row.updated_at.isoformat(),
        }
        for row in model.objects.order_by("id")
    ]
    return JsonResponse({"count": len(results), "results": results})
