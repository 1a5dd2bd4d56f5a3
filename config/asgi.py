import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter  # noqa: E402

from chat.routing import websocket_urlpatterns  # noqa: E402
from config.bodylimit import BodyLimitMiddleware  # noqa: E402
from config.layer_outage import ChannelLayerOutage  # noqa: E402
from config.origins import TrustedOriginValidator  # noqa: E402
from media_jobs.routing import websocket_urlpatterns as media_websocket_urlpatterns  # noqa: E402

# Background consumers served by `manage.py runworker NAME`: channel name -> ASGI consumer.
# Each app that has one adds its line here (the media-jobs app: "media-jobs").
from media_jobs.worker import MediaJobsWorker  # noqa: E402

WORKER_CHANNELS: dict[str, object] = {"media-jobs": MediaJobsWorker.as_asgi()}

application = ProtocolTypeRouter(
    {
        # Bodies are capped before Django reads them (config.bodylimit).
        "http": BodyLimitMiddleware(django_asgi_app),
        "websocket": TrustedOriginValidator(
            ChannelLayerOutage(  # Redis down: refuse or close cleanly (config/layer_outage.py)
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns + media_websocket_urlpatterns))
            )
        ),
        "channel": ChannelNameRouter(WORKER_CHANNELS),
    }
)
