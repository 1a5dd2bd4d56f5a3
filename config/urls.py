from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.templatetags.static import static as static_url
from django.urls import include, path
from django.views.generic import RedirectView

from accounts.views import dismiss_demo_notice
from config import views

urlpatterns = [
    path("health/", views.health, name="health"),
    # Browsers ask for /favicon.ico where a page names no icon (JSON, files): the SVG one.
    path("favicon.ico", RedirectView.as_view(url=static_url("favicon.svg"), permanent=True)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("demo-notice/dismiss/", dismiss_demo_notice, name="dismiss_demo_notice"),
    path("admin/", admin.site.urls),
    path("usage/", include("usage.urls")),
    path("accounts/", include("accounts.urls")),
    path("studio/", include("media_jobs.urls")),
    path("", include("voice.urls")),
    path("", include("chat.urls")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
