from django.urls import path

from chat import speech_views, views

app_name = "chat"
urlpatterns = [
    path("", views.home, name="home"),
    path("new/", views.new, name="new"),
    path("search/", views.search, name="search"),
    path("c/<uuid:conversation_id>/", views.conversation, name="conversation"),
    path("c/<uuid:conversation_id>/settings/", views.update_settings, name="update_settings"),
    path("c/<uuid:conversation_id>/share/", views.share, name="share"),
    path("c/<uuid:conversation_id>/unshare/", views.unshare, name="unshare"),
    path("c/<uuid:conversation_id>/fork/", views.fork, name="fork"),
    path("c/<uuid:conversation_id>/switch/", views.switch_version, name="switch_version"),
    path("c/<uuid:conversation_id>/rename/", views.rename, name="rename"),
    path("c/<uuid:conversation_id>/pin/", views.pin, name="pin"),
    path("c/<uuid:conversation_id>/delete/", views.delete, name="delete"),
    path(
        "c/<uuid:conversation_id>/export/<str:fmt>/",
        views.export_conversation,
        name="export",
    ),
    path(
        "c/<uuid:conversation_id>/messages/<int:message_id>/speech/",
        speech_views.speech_plan,
        name="speech_plan",
    ),
    path(
        "c/<uuid:conversation_id>/messages/<int:message_id>/speech/<int:index>/",
        speech_views.speech_part,
        name="speech_part",
    ),
    path("speech/sample/", speech_views.speech_sample, name="speech_sample"),
    path("speech/sample/play/", speech_views.speech_sample_play, name="speech_sample_play"),
]
