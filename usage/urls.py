from django.urls import path

from usage import views

app_name = "usage"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("export.csv", views.export_csv, name="export_csv"),
    path("records/<int:record_id>/", views.record, name="record"),
    path("audit/", views.audit_log, name="audit"),
    path("prices/import/", views.import_prices, name="import_prices"),
    path("teams/<int:team_id>/budget/", views.budget_update, name="budget_update"),
]
