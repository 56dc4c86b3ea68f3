"""/healthz and /readyz for a project's urls.py: ``path("", include("soc2kit.health.urls"))``."""

from django.urls import path

from . import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
]
