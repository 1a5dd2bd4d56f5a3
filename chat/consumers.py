from channels.generic.websocket import AsyncWebsocketConsumer


class ChatConsumer(AsyncWebsocketConsumer):
    """Placeholder; replaced by the streaming consumer."""

    async def connect(self) -> None:
        await self.close()
