from django.contrib import admin
from django.urls import include, path
from soc2kit.accounts.urls import api_urlpatterns as auth_api_urls
from soc2kit.accounts.urls import html_urlpatterns as auth_html_urls
from soc2kit.health import views as health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/auth/", include(auth_api_urls)),
    path("api/customers/", include("soc2kit.customers.urls")),
    path("accounts/", include(auth_html_urls)),
    path("admin/", admin.site.urls),
]

handler403 = "soc2kit.audit.views.permission_denied"
