from django.urls import path

from media_jobs import views

app_name = "media_jobs"

# Mounted at /studio/ (config/urls.py): /media/ is MEDIA_URL, where Django's own file
# serving lives in development; job files are served by `file` below, never from /media/.
urlpatterns = [
    path("", views.gallery, name="gallery"),
    path("new/<slug:tool>/", views.new, name="new"),
    path("jobs/<str:job_id>/", views.detail, name="detail"),
    path("jobs/<str:job_id>/card/", views.card, name="card"),
    path("jobs/<str:job_id>/tile/", views.tile, name="tile"),
    path("jobs/<str:job_id>/press/", views.press, name="press"),
    path("jobs/<str:job_id>/retry/", views.retry, name="retry"),
    path("jobs/<str:job_id>/cancel/", views.cancel, name="cancel"),
    path("jobs/<str:job_id>/files/<str:file_id>/", views.file, name="file"),
    path("jobs/<str:job_id>/files/<str:file_id>/<str:variant>/", views.file, name="file_variant"),
]
