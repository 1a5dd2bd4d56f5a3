"""Every name chat's live path uses, written once: websocket actions from the browser and
channel-layer event types between processes.

The browser sends ws-send JSON whose "action" is one of ACTIONS (docs/chat-contract.md). The
consumer handles `on_<action>`; Channels calls a handler named after an event type with its dots
as underscores ("reply.started" → `reply_started`). Generic events any app may send (access
changes, pushed fragments) are in accounts.live.
"""

from __future__ import annotations

# Websocket actions: what a tab asks for.
SEND = "send"
EDIT = "edit"
REGENERATE = "regenerate"
RETRY = "retry"
STOP = "stop"
# A tab that reconnected while a reply was still shown as streaming asks for the thread.
SYNC = "sync"

REPLY_ACTIONS = (SEND, EDIT, REGENERATE, RETRY)  # each starts a reply (services.begin_reply)
WRITE_ACTIONS = (*REPLY_ACTIONS, STOP)
ACTIONS = (*WRITE_ACTIONS, SYNC)

# Channel-layer events to a conversation's group (Conversation.group_name).
REPLY_STARTED = "reply.started"  # {"message_id"}: a reply began in some process
REPLY_FINISHED = "reply.finished"  # {"message_id"}: it is stored; tabs load it
REPLY_SNAPSHOT = "reply.snapshot"  # {"message_id", "content", "sibling_ids", "plain"}: scale mode
# To chat.streaming.stop_group(conversation id), read by the process writing its reply.
REPLY_STOP = "reply.stop"  # {"conversation_id"}: that process stops the reply
