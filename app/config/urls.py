from demo.accounts.urls import api_urlpatterns as auth_api_urls
from demo.accounts.urls import html_urlpatterns as auth_html_urls
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from soc2kit.health import views as health

urlpatterns = [
    # The site's root leads to the login page (scanners and people start at "/").
    path("", RedirectView.as_view(pattern_name="login", permanent=False), name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/auth/", include(auth_api_urls)),
    path("api/customers/", include("demo.customers.urls")),
    path("accounts/", include(auth_html_urls)),
    path("admin/", admin.site.urls),
]

handler403 = "soc2kit.audit.views.permission_denied"
