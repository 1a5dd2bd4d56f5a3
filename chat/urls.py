from django.urls import path

from chat import speech_views, views, views_attachments, views_folders, views_gpts, views_public

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
    path(
        "c/<uuid:conversation_id>/messages/<int:message_id>/regenerate-models/",
        views.regenerate_menu,
        name="regenerate_menu",
    ),
    path("c/<uuid:conversation_id>/pin/", views.pin, name="pin"),
    path("c/<uuid:conversation_id>/delete/", views.delete, name="delete"),
    path("c/<uuid:conversation_id>/move/", views_folders.move, name="move"),
    path("c/<uuid:conversation_id>/archive/", views_folders.archive, name="archive"),
    path("c/<uuid:conversation_id>/unarchive/", views_folders.unarchive, name="unarchive"),
    path("folders/create/", views_folders.folder_create, name="folder_create"),
    path("folders/<int:folder_id>/rename/", views_folders.folder_rename, name="folder_rename"),
    path("folders/<int:folder_id>/delete/", views_folders.folder_delete, name="folder_delete"),
    path("c/<uuid:conversation_id>/public-link/", views_public.link_create, name="link_create"),
    path(
        "c/<uuid:conversation_id>/public-link/revoke/",
        views_public.link_revoke,
        name="link_revoke",
    ),
    path("p/<str:token>/", views_public.public, name="public"),
    path(
        "c/<uuid:conversation_id>/attachments/",
        views_attachments.attach,
        name="attach",
    ),
    path(
        "c/<uuid:conversation_id>/attachments/<int:attachment_id>/remove/",
        views_attachments.detach,
        name="detach",
    ),
    path(
        "c/<uuid:conversation_id>/attachments/<int:attachment_id>/<str:variant>/",
        views_attachments.attachment,
        name="attachment",
    ),
    path(
        "attachments/<str:token>/",
        views_attachments.attachment_link,
        name="attachment_link",
    ),
    path(
        "c/<uuid:conversation_id>/export/<str:fmt>/",
        views.export_conversation,
        name="export",
    ),
    path("teams/<int:team_id>/gpts/", views_gpts.gpts, name="gpts"),
    path("teams/<int:team_id>/gpts/<int:gpt_id>/delete/", views_gpts.gpt_delete, name="gpt_delete"),
    path("teams/<int:team_id>/gpts/<int:gpt_id>/icon/", views_gpts.gpt_icon, name="gpt_icon"),
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
