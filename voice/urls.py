from django.urls import path

from voice import views

app_name = "voice"
urlpatterns = [
    path("c/<uuid:conversation_id>/recordings/", views.upload, name="upload"),
]
