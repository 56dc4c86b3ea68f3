"""The customer JSON API. Session authentication (login at /api/auth/login/), CSRF on writes,
permissions from the role groups, and an audit entry for every read, write and denial.

Exact-match search is a POST (``/api/customers/search/``) so that searched values stay out of request
lines and access logs; it needs its own permission, is rate-limited per user and raises an alert on
enumeration-like use (search_guard)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from django.conf import settings
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from soc2kit.audit.models import Action, Outcome
from soc2kit.audit.recorder import record, record_denial
from soc2kit.encryption.keyring import get_keyring
from soc2kit.encryption.lookup import blind_index_field, blind_lookup

from demo.accounts.http import InvalidRequest, error_response, json_object_body

from . import search_guard
from .models import Customer
from .serializers import CustomerInputError, serialize, validate_customer_input

OBJECT_TYPE = Customer._meta.label_lower
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
LIST_PARAMETERS = ("page", "page_size")
SEARCH_FIELDS = ("email", "national_id")
SEARCH_PATH = "/api/customers/search/"
PERMISSION_FOR_METHOD = {
    "GET": "customers.view_customer",
    "POST": "customers.add_customer",
    "PUT": "customers.change_customer",
    "PATCH": "customers.change_customer",
    "DELETE": "customers.delete_customer",
}


def _invalid(errors: dict[str, list[str]]) -> JsonResponse:
    return JsonResponse({"error": "invalid_request", "errors": errors}, status=400)


@method_decorator(never_cache, name="dispatch")
class CustomerApiView(View):
    http_method_names: Sequence[str] = ("get", "post", "put", "patch", "delete")
    permission_for_method: ClassVar[dict[str, str]] = PERMISSION_FOR_METHOD

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if (
            request.method not in self.permission_for_method
            or request.method.lower() not in self.http_method_names
        ):
            return self.http_method_not_allowed(request, *args, **kwargs)
        object_id = kwargs.get("pk", "")
        if not request.user.is_authenticated:
            record_denial(request, reason="not_authenticated", object_type=OBJECT_TYPE, object_id=object_id)
            return error_response(401, "not_authenticated", "Log in at /api/auth/login/ first.")
        permission = self.permission_for_method[request.method]
        if not request.user.has_perm(permission):
            record_denial(
                request, reason=f"missing {permission}", object_type=OBJECT_TYPE, object_id=object_id
            )
            return error_response(403, "permission_denied", f"Your role does not grant {permission}.")
        try:
            return super().dispatch(request, *args, **kwargs)
        except InvalidRequest as exc:
            return _invalid(exc.errors)
        except CustomerInputError as exc:
            return _invalid(exc.errors)
        except Http404:
            return error_response(404, "not_found", "No customer with this id.")


class CustomerCollectionView(CustomerApiView):
    http_method_names = ("get", "post")

    def get(self, request: HttpRequest) -> JsonResponse:
        searched = sorted(set(request.GET) & set(SEARCH_FIELDS))
        if searched:  # values in a URL end up in access logs and browser history
            raise InvalidRequest(
                {
                    name: [f'Search is no longer a list parameter; POST {{"{name}": ...}} to {SEARCH_PATH}.']
                    for name in searched
                }
            )
        unknown = sorted(set(request.GET) - set(LIST_PARAMETERS))
        if unknown:
            raise InvalidRequest(
                {name[:64]: [f"Unknown parameter; use {', '.join(LIST_PARAMETERS)}."] for name in unknown}
            )
        page_number = _positive_int(request.GET.get("page", "1"), "page", 10**6)
        page_size = _positive_int(
            request.GET.get("page_size", str(DEFAULT_PAGE_SIZE)), "page_size", MAX_PAGE_SIZE
        )
        return _page_response(request, Customer.objects.order_by("id"), page_number, page_size)

    def post(self, request: HttpRequest) -> JsonResponse:
        values = validate_customer_input(json_object_body(request), partial=False)
        ensure_data_key_committed()
        with transaction.atomic():  # the record and its audit entry commit together or not at all
            customer = Customer.objects.create(**values)
            record(request, Action.CREATE, Outcome.SUCCESS, instance=customer, changed_fields=values)
        return JsonResponse(serialize(customer, full=sees_full(request)), status=201)


class CustomerSearchView(CustomerApiView):
    """POST {"email": ...} or {"national_id": ...}, optional "page"/"page_size"; answers like the list."""

    http_method_names = ("post",)
    permission_for_method: ClassVar[dict[str, str]] = {"POST": "customers.search_customer"}

    def post(self, request: HttpRequest) -> JsonResponse:
        data = json_object_body(request)
        allowed = (*SEARCH_FIELDS, "page", "page_size")
        errors = {
            name[:64]: [f"Unknown field; allowed fields are {', '.join(allowed)}."]
            for name in sorted(set(data) - set(allowed))
        }
        searched = [name for name in SEARCH_FIELDS if name in data]
        if len(searched) != 1:
            errors["body"] = [f"Send exactly one of {', '.join(SEARCH_FIELDS)}."]
        for name in searched:
            if not isinstance(data[name], str) or not data[name].strip():
                errors[name] = ["Must be a non-empty string."]
        if errors:
            raise InvalidRequest(errors)
        page_number = _json_positive_int(data.get("page", 1), "page", 10**6)
        page_size = _json_positive_int(data.get("page_size", DEFAULT_PAGE_SIZE), "page_size", MAX_PAGE_SIZE)
        (field,) = searched
        with transaction.atomic():  # one user's searches are counted one after the other
            search_guard.search_lock(request.user)
            retry_after = search_guard.seconds_until_allowed(request.user)
            if retry_after:
                record_denial(request, reason="search rate limit", object_type=OBJECT_TYPE)
                response = error_response(
                    429,
                    "rate_limited",
                    f"At most {settings.CUSTOMER_SEARCH_RATE_LIMIT} searches per "
                    f"{settings.CUSTOMER_SEARCH_RATE_WINDOW}; try again in {retry_after} s.",
                )
                response["Retry-After"] = str(retry_after)
                return response
            index_value = blind_index_field(Customer, field).index_for(data[field])
            assert index_value is not None  # data[field] is a non-empty string (checked above)
            search_guard.note_searched_value(request.user, field, index_value)
        # exact match via the HMAC index; no decryption
        queryset = blind_lookup(Customer.objects.order_by("id"), **{field: data[field]})
        return _page_response(request, queryset, page_number, page_size, search_fields=[field])


class CustomerDetailView(CustomerApiView):
    http_method_names = ("get", "put", "patch", "delete")

    def get(self, request: HttpRequest, pk: int) -> JsonResponse:
        customer = get_object_or_404(Customer, pk=pk)
        full = sees_full(request)
        record(request, Action.READ, Outcome.SUCCESS, instance=customer, details={"masked": not full})
        return JsonResponse(serialize(customer, full=full))

    def put(self, request: HttpRequest, pk: int) -> JsonResponse:
        return self._update(request, pk, partial=False)

    def patch(self, request: HttpRequest, pk: int) -> JsonResponse:
        return self._update(request, pk, partial=True)

    def _update(self, request: HttpRequest, pk: int, *, partial: bool) -> JsonResponse:
        values = validate_customer_input(json_object_body(request), partial=partial)
        if not partial:  # PUT replaces the optional fields too
            values.setdefault("date_of_birth", None)
            values.setdefault("notes", "")
        ensure_data_key_committed()
        with transaction.atomic():
            customer = get_object_or_404(Customer.objects.select_for_update(), pk=pk)
            changed = [name for name, value in values.items() if getattr(customer, name) != value]
            for name in changed:
                setattr(customer, name, values[name])
            if changed:
                customer.save()
            record(request, Action.UPDATE, Outcome.SUCCESS, instance=customer, changed_fields=changed)
        return JsonResponse(serialize(customer, full=sees_full(request)))

    def delete(self, request: HttpRequest, pk: int) -> HttpResponse:
        with transaction.atomic():
            customer = get_object_or_404(Customer.objects.select_for_update(), pk=pk)
            record(request, Action.DELETE, Outcome.SUCCESS, instance=customer)
            customer.delete()
        return HttpResponse(status=204)


def ensure_data_key_committed() -> None:
    """Load (or create and commit) the active data key before our own transaction opens: a data key
    created inside a transaction that then rolls back would stay cached in the keyring while its
    wrapped copy is gone from the database, and values encrypted with it could not be read later."""
    get_keyring().active()


def sees_full(request: HttpRequest) -> bool:
    return request.user.has_perm("customers.view_customer_full")


def _page_response(
    request: HttpRequest,
    queryset: QuerySet[Customer],
    page_number: int,
    page_size: int,
    *,
    search_fields: list[str] | None = None,
) -> JsonResponse:
    """One page of ``queryset``, masked per the caller's role, with its audit entry."""
    paginator = Paginator(queryset, page_size)
    if page_number > max(paginator.num_pages, 1):
        raise InvalidRequest({"page": [f"Out of range; there are {paginator.num_pages} pages."]})
    page = paginator.page(page_number)
    full = sees_full(request)
    results = [serialize(customer, full=full) for customer in page.object_list]
    record(
        request,
        Action.LIST,
        Outcome.SUCCESS,
        object_type=OBJECT_TYPE,
        details={
            "ids": [item["id"] for item in results],
            "page": page_number,
            "total": paginator.count,
            "search_fields": search_fields or [],  # which fields were searched, never the values
            "masked": not full,
        },
    )
    return JsonResponse(
        {
            "count": paginator.count,
            "page": page_number,
            "page_size": page_size,
            "num_pages": paginator.num_pages,
            "results": results,
        }
    )


def _json_positive_int(value: Any, name: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InvalidRequest({name: [f"Must be a whole number from 1 to {maximum}."]})
    return value


def _positive_int(raw: str, name: str, maximum: int) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise InvalidRequest({name: [f"Must be a whole number from 1 to {maximum}."]})
    return int(raw)
