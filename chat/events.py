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
# A reader's thumbs up / down or note on a reply (chat.feedback): the reader's own, so not a
# write to the conversation.
FEEDBACK = "feedback"

REPLY_ACTIONS = (SEND, EDIT, REGENERATE, RETRY)  # each starts a reply (services.begin_reply)
WRITE_ACTIONS = (*REPLY_ACTIONS, STOP)
ACTIONS = (*WRITE_ACTIONS, SYNC, FEEDBACK)

# Channel-layer events to a conversation's group (Conversation.group_name).
REPLY_STARTED = "reply.started"  # {"message_id"}: a reply began in some process
REPLY_FINISHED = "reply.finished"  # {"message_id"}: it is stored; tabs load it
REPLY_SNAPSHOT = "reply.snapshot"  # {"message_id", "content", "sibling_ids", "plain"}: scale mode
# To chat.streaming.stop_group(conversation id), read by the process writing its reply.
REPLY_STOP = "reply.stop"  # {"conversation_id"}: that process stops the reply
# To a user's group (accounts.live.user_group): their feedback on a reply changed; each of their
# tabs on that conversation redraws its thumbs. {"conversation_id", "message_id", "rating",
# "note", "ask_note", "origin": the channel of the tab that acted}
FEEDBACK_CHANGED = "feedback.changed"
