from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

api_urlpatterns = [
    path("csrf/", views.csrf_token, name="api-csrf"),
    path("login/", views.api_login, name="api-login"),
    path("logout/", views.api_logout, name="api-logout"),
]

html_urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
