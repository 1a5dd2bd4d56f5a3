"""Files a chat reply brings with it: the pictures a gpt-4-all (or GPTs) reply links to, the
songs of a Suno chat model, and the progress ticks a Suno chat model narrates.

Only the replies of models that make files (`brings_files`: `*-all`, `gpt-4-gizmo-*`, the Suno
chat models) are watched; every other reply renders links as before. For those, chat.streaming
keeps a ReplyFiles beside the text:

- at each flush (never per token), the new complete lines of the text are scanned for links
  (`LinkScanner`): markdown pictures `![..](http..)`, and links or bare URLs to files (by the
  extension of their path; for a Suno model also by the link's words, "listen", "听歌"...);
- each new link is copied in a task of its own, off the token path: gateway.download (public
  addresses only, except the gateway's own host and port; redirects checked; the expected
  types, read from the bytes; a size cap), at most MAX_FILES per reply and MAX_PARALLEL at
  once; a copy is stored as a chat.Attachment of the reply (kind image, audio or file, with
  the link as `source_url`);
- when the reply ends, the copies still running are awaited (within MEDIA_DOWNLOAD_SECONDS),
  then `stored_html` renders the reply: links to copied files point at our copies (the view
  named chat:attachment, behind the conversation's access rule), a picture that could not be
  copied is a note saying so (never the remote picture), and the reply's other files follow
  the text: a Suno song as a card like a Suno job's (cover, title, player, download), other
  sound and video with a player, any other file as a download.

Suno chat models (Suno-API's template, docs/gateway-api.md "Streaming") first say the request
was accepted, then send a 🎵 tick every few seconds while the song is made, then the song's
markdown. `TickFilter` takes the lines made of ticks out of the text (so the reply does not
fill with notes) and counts them; the reply's status line shows one progress line instead.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from posixpath import basename
from urllib.parse import unquote, urlsplit
from uuid import UUID

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from chat import rendering
from chat.db import reply_db
from chat.models import Attachment
from gateway import download as dl
from gateway.errors import GatewayError

logger = logging.getLogger(__name__)

# Models whose replies bring files, matched case-insensitively against the whole id.
FILE_MODELS = ("*-all", "*-all-*", "gpt-4-gizmo-*", "suno-v*", "chirp-*")
SUNO_CHAT_MODELS = ("suno-v*", "chirp-*")
# A reply copies at most this many files, this many at a time.
MAX_FILES = 16
MAX_PARALLEL = 3
# Pictures are capped lower than MEDIA_MAX_DOWNLOAD_MB (songs and videos are bigger).
IMAGE_MAX_BYTES = 20 * 1024 * 1024
IMAGE_MAX_PIXELS = 64_000_000

IMAGE, AUDIO, VIDEO, FILE = "image", "audio", "video", "file"
EXPECT: dict[str, frozenset[str]] = {
    IMAGE: dl.IMAGE_TYPES,
    AUDIO: dl.AUDIO_TYPES,
    VIDEO: dl.VIDEO_TYPES | {"image/gif"},
    FILE: dl.IMAGE_TYPES | dl.AUDIO_TYPES | dl.VIDEO_TYPES | dl.DOCUMENT_TYPES,
}
EXTENSION_KINDS = {
    **dict.fromkeys(("png", "jpg", "jpeg", "webp", "gif"), IMAGE),
    **dict.fromkeys(("mp3", "wav", "ogg"), AUDIO),
    **dict.fromkeys(("mp4", "webm", "mov"), VIDEO),
    **dict.fromkeys(("pdf", "zip"), FILE),
}
# A Suno link without an extension is told by its words.
AUDIO_WORDS = ("听歌", "音频", "歌曲", "listen", "audio", "song", "mp3")
VIDEO_WORDS = ("观看", "视频", "watch", "video", "mp4")

MD_LINK = re.compile(
    r"(!?)\[([^\]\n]{0,500})\]\(\s*<?(https?://[^\s<>)]+)>?(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'))?\s*\)"
)
BARE_URL = re.compile(r"https?://[^\s<>()\[\]\"'`]+")
TRAILING = ".,;:!?。，；：！？）"  # noqa: RUF001  # sentence ends, not part of a bare URL
TITLE = re.compile(
    r"\s{0,3}(?:#{1,6}\s+(?P<heading>.+?)[\s#]*|(?:标题|歌名|title|song)\s*[:：]\s*(?P<named>.+))",  # noqa: RUF001
    re.IGNORECASE,
)
TICK = "🎵"
TICK_LINE_CHARS = frozenset(TICK + " \t\r")


def _matches(model: str, patterns: Iterable[str]) -> bool:
    lowered = (model or "").lower()
    return any(fnmatchcase(lowered, pattern) for pattern in patterns)


def brings_files(model: str) -> bool:
    """Whether replies of `model` are watched for files to copy."""
    return _matches(model, FILE_MODELS)


def is_suno_chat(model: str) -> bool:
    return _matches(model, SUNO_CHAT_MODELS)


# --------------------------------------------------------------------------- Suno's ticks


class TickFilter:
    """Takes the lines made only of 🎵 ticks out of a streamed text, counting the ticks.

    Fed per token (a Suno chat model sends a character at a time): what it returns is the
    text to keep. A line is held back only while it is all ticks so far; the first other
    character releases it, and an all-tick line is dropped with its newline."""

    __slots__ = ("_held", "_mid_line", "ticks")

    def __init__(self) -> None:
        self._held = ""  # the current line, while it is all ticks
        self._mid_line = False  # the current line has text that was let through
        self.ticks = 0

    def feed(self, text: str) -> str:
        if not self._held and TICK not in text:  # the common case: nothing to look at
            if text:
                self._mid_line = text[-1] != "\n"
            return text
        pieces = (self._held + text).split("\n")
        self._held = ""
        out: list[str] = []
        last = len(pieces) - 1
        for index, line in enumerate(pieces):
            ticks_only = (
                not (index == 0 and self._mid_line)
                and bool(line.strip())
                and set(line) <= TICK_LINE_CHARS
            )
            if index < last:
                if ticks_only:
                    self.ticks += line.count(TICK)
                else:
                    out.append(line + "\n")
            elif ticks_only:
                self._held, self._mid_line = line, False
            else:
                out.append(line)
                self._mid_line = bool(line) or (index == 0 and self._mid_line)
        return "".join(out)

    def finish(self) -> str:
        """What is held at the end: ticks are dropped, anything else kept."""
        held, self._held = self._held, ""
        if held.strip() and set(held) <= TICK_LINE_CHARS:
            self.ticks += held.count(TICK)
            return ""
        return held


# --------------------------------------------------------------------------- finding links


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    kind: str  # IMAGE, AUDIO, VIDEO or FILE
    text: str = ""  # the picture's alt text or the link's words
    title: str = ""  # the last heading (or "Title:" line) before it
    inline: bool = False  # written as a picture: ![..](..)
    group: int = 0  # a Suno song's files share one: cover, audio, video


def _kind_of(url: str, text: str, *, inline: bool, suno: bool) -> str | None:
    if inline:
        return IMAGE
    path = urlsplit(url).path
    extension = path.rsplit(".", 1)[-1].lower() if "." in basename(path) else ""
    kind = EXTENSION_KINDS.get(extension)
    if kind is None and suno:
        words = text.lower()
        if any(word in words for word in VIDEO_WORDS):
            kind = VIDEO
        elif any(word in words for word in AUDIO_WORDS):
            kind = AUDIO
    return kind


class LinkScanner:
    """Finds the file links of a growing text, line by line: each complete line is looked at
    once (`feed`), the last one at the end (`finish`); each URL is reported once."""

    def __init__(self, *, suno: bool = False) -> None:
        self.suno = suno
        self._partial: list[str] = []
        self._seen: set[str] = set()
        self._title = ""
        self._group = 0
        self._group_kinds: set[str] = set()

    def feed(self, text: str) -> list[Link]:
        if "\n" not in text:
            self._partial.append(text)
            return []
        head, *middle, last = text.split("\n")
        lines = ["".join(self._partial) + head, *middle]
        self._partial = [last] if last else []
        return [link for line in lines for link in self._scan(line)]

    def finish(self) -> list[Link]:
        line = "".join(self._partial)
        self._partial = []
        return self._scan(line)

    def _scan(self, line: str) -> list[Link]:
        if "http" not in line:
            self._note_title(line)
            return []
        found: list[Link] = []
        for match in MD_LINK.finditer(line):
            bang, text, url = match.groups()
            found += self._link(url, text, inline=bool(bang))
        rest = MD_LINK.sub(" ", line)
        for match in BARE_URL.finditer(rest):
            found += self._link(match.group().rstrip(TRAILING), "", inline=False)
        self._note_title(rest)
        return found

    def _note_title(self, line: str) -> None:
        match = TITLE.fullmatch(line.strip())
        if match:
            title = (match.group("heading") or match.group("named") or "").strip(" *_`")
            self._title = title[:200]

    def _link(self, url: str, text: str, *, inline: bool) -> list[Link]:
        kind = _kind_of(url, text, inline=inline, suno=self.suno)
        if kind is None or url in self._seen or len(url) > 2000:
            return []
        self._seen.add(url)
        if self.suno and kind != FILE:
            if kind in self._group_kinds:  # a second cover, sound or video: the next song
                self._group += 1
                self._group_kinds = set()
            self._group_kinds.add(kind)
        return [Link(url, kind, text.strip(), self._title, inline, self._group)]


# --------------------------------------------------------------------------- copying


@dataclass(slots=True)
class Copies:
    """What became of a reply's file links: each link, and its copy (None: not copied)."""

    conversation_id: UUID
    suno: bool
    links: list[Link] = field(default_factory=list)
    copied: dict[str, Attachment | None] = field(default_factory=dict)

    def local_url(self, link: Link) -> str | None:
        attachment = self.copied.get(link.url)
        return attachment_url(self.conversation_id, attachment) if attachment else None


def attachment_url(conversation_id: UUID, attachment: Attachment, *, download: bool = False) -> str:
    variant = "download" if download else "file"
    return reverse("chat:attachment", args=[conversation_id, attachment.pk, variant])


class ReplyFiles:
    """The file links of one streaming reply and the tasks copying them (see the module)."""

    def __init__(self, *, conversation_id: UUID, message_id: int, suno: bool) -> None:
        self.conversation_id = conversation_id
        self.message_id = message_id
        self.suno = suno
        self.scanner = LinkScanner(suno=suno)
        self.links: list[Link] = []
        self._fed = 0
        self._tasks: dict[str, asyncio.Task[Attachment | None]] = {}
        self._slots: asyncio.Semaphore | None = None

    @classmethod
    def for_reply(cls, *, model: str, conversation_id: UUID, message_id: int) -> ReplyFiles | None:
        if not brings_files(model):
            return None
        return cls(conversation_id=conversation_id, message_id=message_id, suno=is_suno_chat(model))

    @property
    def copying(self) -> bool:
        return any(not task.done() for task in self._tasks.values())

    def feed(self, chunks: list[str]) -> None:
        """Scan the chunks not scanned yet (called once per flush) and start their copies."""
        count = len(chunks)
        if count == self._fed:
            return
        text = "".join(chunks[self._fed : count])
        self._fed = count
        for link in self.scanner.feed(text):
            self._start(link)

    def _start(self, link: Link) -> None:
        self.links.append(link)
        if len(self._tasks) >= MAX_FILES:
            logger.info("Reply %s: not copying more than %d files", self.message_id, MAX_FILES)
            return
        position = len(self._tasks)
        self._tasks[link.url] = asyncio.create_task(
            self._copy(link, position), name=f"reply-{self.message_id}-file-{position}"
        )

    def close(self, chunks: list[str]) -> None:
        """The text is complete: scan what is left of it (its last line too)."""
        self.feed(chunks)
        for link in self.scanner.finish():
            self._start(link)

    async def finish(self, chunks: list[str]) -> Copies:
        """Scan the rest, wait for the copies (within MEDIA_DOWNLOAD_SECONDS), and say what
        became of each link."""
        self.close(chunks)
        tasks = list(self._tasks.values())
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=settings.MEDIA_DOWNLOAD_SECONDS)
            for task in pending:
                task.cancel()
        copies = Copies(self.conversation_id, self.suno, links=list(self.links))
        for url, task in self._tasks.items():
            ok = task.done() and not task.cancelled() and task.exception() is None
            copies.copied[url] = task.result() if ok else None
        return copies

    def cancel(self) -> None:
        for task in self._tasks.values():
            task.cancel()

    async def _copy(self, link: Link, position: int) -> Attachment | None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(MAX_PARALLEL)
        async with self._slots:
            limit = min(IMAGE_MAX_BYTES, dl.max_bytes()) if link.kind == IMAGE else None
            try:
                got = await dl.download(link.url, expect=EXPECT[link.kind], limit=limit)
            except GatewayError as exc:
                logger.info("Reply %s: not copying %s: %s", self.message_id, link.url[:200], exc)
                return None
        try:
            attachment = await asyncio.to_thread(
                prepare_copy, link, got, conversation_id=self.conversation_id,
                message_id=self.message_id, position=position,
            )  # fmt: skip
            if attachment is None:
                return None
            return await reply_db(save_copy)(attachment=attachment)
        except Exception:
            logger.exception("Reply %s: could not store %s", self.message_id, link.url[:200])
            return None


def _name(link: Link, got: dl.Downloaded) -> str:
    """A link's last path segment (shown, escaped), else the link's words, with the extension
    the bytes showed."""
    stem = unquote(basename(urlsplit(link.url).path)).rsplit(".", 1)[0].strip()
    stem = stem or link.text or "file"
    return f"{stem[:120]}.{got.extension}"


def _picture_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a picture Pillow can read and is not too big; None otherwise."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > IMAGE_MAX_PIXELS:
                return None
            image.verify()
            return width, height
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def prepare_copy(
    link: Link, got: dl.Downloaded, *, conversation_id: UUID, message_id: int, position: int
) -> Attachment | None:
    """The unsaved Attachment of a downloaded file, its bytes in storage (off the event loop:
    Pillow and the disk); None for a picture Pillow cannot read."""
    kind = Attachment.Kind.FILE
    size = None
    if got.content_type.startswith("image/"):
        size = _picture_size(got.data)
        if size is None:
            logger.info("Reply %s: %s is no readable picture", message_id, link.url[:200])
            return None
        kind = Attachment.Kind.IMAGE
    elif got.content_type.startswith("audio/"):
        kind = Attachment.Kind.AUDIO
    attachment = Attachment(
        conversation_id=conversation_id,
        message_id=message_id,
        kind=kind,
        content_type=got.content_type,
        size=len(got.data),
        name=_name(link, got),
        width=size[0] if size else None,
        height=size[1] if size else None,
        source_url=link.url[:2000],
        position=position,
    )
    attachment.file.save(f"reply.{got.extension}", ContentFile(got.data), save=False)
    return attachment


def save_copy(*, attachment: Attachment) -> Attachment | None:
    """Save the row of a stored copy; if its reply is gone (its conversation deleted), drop
    the stored file and return None."""
    try:
        with transaction.atomic():
            attachment.save()
    except Exception:
        logger.info("Reply %s is gone: dropping its copy", attachment.message_id)
        if attachment.file.name:
            attachment.file.storage.delete(attachment.file.name)
        return None
    return attachment


# --------------------------------------------------------------------------- the stored HTML


@dataclass(frozen=True, slots=True)
class Song:
    title: str
    cover: Attachment | None
    audio: Attachment | None
    video: Attachment | None


def _songs(copies: Copies) -> tuple[list[Song], set[str]]:
    """A Suno reply's songs, one per group of links with a sound or video, and the URLs of
    the pictures shown on their cards (not again in the text)."""
    groups: dict[int, dict[str, Link]] = {}
    for link in copies.links:
        if link.kind != FILE:
            groups.setdefault(link.group, {}).setdefault(link.kind, link)
    songs, on_cards = [], set()
    for group in groups.values():
        if AUDIO not in group and VIDEO not in group:
            continue
        cover = group.get(IMAGE)
        first = next(iter(group.values()))
        if cover is not None and copies.copied.get(cover.url):
            on_cards.add(cover.url)
        songs.append(
            Song(
                title=first.title,
                cover=copies.copied.get(cover.url) if cover else None,
                audio=copies.copied.get(group[AUDIO].url) if AUDIO in group else None,
                video=copies.copied.get(group[VIDEO].url) if VIDEO in group else None,
            )
        )
    return songs, on_cards


def stored_html(content: str, reasoning: str, copies: Copies) -> str:
    """The stored HTML of a reply whose files were copied (see the module docstring)."""
    songs, on_cards = _songs(copies) if copies.suno else ([], set())
    links: dict[str, str | None] = {}
    for link in copies.links:
        links[link.url] = "" if link.url in on_cards else copies.local_url(link)
    html = ""
    if content or reasoning.strip():
        html = rendering.render_reasoning(reasoning) + rendering.render_markdown(
            content, links=links
        )
    shown = {a.pk for song in songs for a in (song.cover, song.audio, song.video) if a}
    files = [
        attachment
        for link in copies.links
        if not link.inline
        and (attachment := copies.copied.get(link.url)) is not None
        and attachment.pk not in shown
    ]
    if not songs and not files:
        return html
    context = {
        "songs": [_song_context(copies.conversation_id, song) for song in songs],
        "files": [_file_context(copies.conversation_id, attachment) for attachment in files],
    }
    return html + render_to_string("chat/_reply_files.html", context)


def _file_context(conversation_id: UUID, attachment: Attachment | None) -> dict | None:
    if attachment is None:
        return None
    return {
        "name": attachment.name,
        "size": attachment.size,
        "content_type": attachment.content_type,
        "url": attachment_url(conversation_id, attachment),
        "download_url": attachment_url(conversation_id, attachment, download=True),
    }


def _song_context(conversation_id: UUID, song: Song) -> dict:
    return {
        "title": song.title,
        "cover": _file_context(conversation_id, song.cover),
        "audio": _file_context(conversation_id, song.audio),
        "video": _file_context(conversation_id, song.video),
    }
