from django.urls import path

from media_jobs import consumers

websocket_urlpatterns = [
    path("ws/media/", consumers.MediaConsumer.as_asgi()),
]
