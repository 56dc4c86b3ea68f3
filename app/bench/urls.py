from django.urls import path

from .views import customer_list

urlpatterns = [path("bench/<str:kind>/", customer_list)]
