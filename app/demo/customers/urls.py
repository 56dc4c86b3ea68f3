from django.urls import path

from . import views

urlpatterns = [
    path("", views.CustomerCollectionView.as_view(), name="customer-list"),
    path("search/", views.CustomerSearchView.as_view(), name="customer-search"),
    path("<int:pk>/", views.CustomerDetailView.as_view(), name="customer-detail"),
]
