"""The hostile inputs of the security suite, in one place: XSS payloads, SSRF addresses, and
a checker for executable markup (tests/security/test_xss.py, test_ssrf.py, test_uploads.py)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# In every XSS payload, so the checker can tell the payload's markup from the page's own.
MARK = "xss1337"

XSS: list[str] = [
    f"<script>alert('{MARK}')</script>",
    f"<SCRIPT SRC=//evil.example/{MARK}.js></SCRIPT>",
    f"<scr<script>ipt>alert('{MARK}')</scr</script>ipt>",
    f"<img src=x onerror=alert('{MARK}')>",
    f'<img src="x" onerror="alert(`{MARK}`)" />',
    f"<body onload=alert('{MARK}')>",
    f"<a href=\"javascript:alert('{MARK}')\">click</a>",
    f"<a href=\"JaVaScRiPt:alert('{MARK}')\">click</a>",
    f"<a href=\"&#106;avascript:alert('{MARK}')\">entity</a>",
    f"<a href=\"java\tscript:alert('{MARK}')\">tab</a>",
    f"<a href=\"vbscript:msgbox('{MARK}')\">vb</a>",
    f"<a href=\"data:text/html,<script>alert('{MARK}')</script>\">data</a>",
    f"<iframe src=\"javascript:alert('{MARK}')\"></iframe>",
    f'<object data="data:text/html,{MARK}"></object>',
    f"<embed src=\"javascript:alert('{MARK}')\">",
    f"<svg onload=alert('{MARK}')>",
    f"<svg><script>alert('{MARK}')</script></svg>",
    f"<svg><a xlink:href=\"javascript:alert('{MARK}')\"><text>x</text></a></svg>",
    f'<math><mtext><table><mglyph><style><img src=x onerror=alert("{MARK}")></style>',
    f"<math href=\"javascript:alert('{MARK}')\">m</math>",
    f"<div style=\"background:url(javascript:alert('{MARK}'))\">{MARK}</div>",
    f"<style>body{{background:url('//evil.example/{MARK}')}}</style>",
    f'<p style="position:fixed;top:0;left:0;width:100%;height:100%" title="{MARK}">x</p>',
    f"<form action=\"javascript:alert('{MARK}')\"><button>go</button></form>",
    f"<button formaction=\"javascript:alert('{MARK}')\">go</button>",
    f'<meta http-equiv="refresh" content="0;url=javascript:alert(\'{MARK}\')">',
    f'<base href="//evil.example/{MARK}/">',
    f'<link rel="stylesheet" href="//evil.example/{MARK}.css">',
    f'<details open ontoggle=alert("{MARK}")>',
    f'<input autofocus onfocus=alert("{MARK}")>',
    f"<video><source onerror=\"alert('{MARK}')\"></video>",
    f"[click](javascript:alert('{MARK}'))",
    f"[click](JAVASCRIPT:alert('{MARK}'))",
    f"[click](  javascript:alert('{MARK}'))",
    f"[click](java%0ascript:alert('{MARK}'))",
    f"[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==#{MARK})",
    f"[click](vbscript:msgbox('{MARK}'))",
    f"![img](javascript:alert('{MARK}'))",
    f"![img](x\" onerror=\"alert('{MARK}'))",
    f"![img](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+#{MARK})",
    f"[x]: javascript:alert('{MARK}')\n\n[ref link][x]",
    f'[a](https://example.com "title\\" onmouseover=\\"alert(\'{MARK}\')")',
    f"<javascript:alert('{MARK}')>",
    f"&lt;script&gt;alert('{MARK}')&lt;/script&gt;",
    f"&#60;script&#62;alert('{MARK}')&#60;/script&#62;",
    f"\u202e<script>alert('{MARK}')</script>",
    f"\uff1cscript\uff1ealert('{MARK}')\uff1c/script\uff1e",  # fullwidth < and >
    f"<scr\u0000ipt>alert('{MARK}')</scr\u0000ipt>",
    f"```html\n</code></pre><script>alert('{MARK}')</script>\n```",
    f"```\"><script>alert('{MARK}')</script>\ncode\n```",
    f"$$</span><script>alert('{MARK}')</script>$$",
    f"<think><script>alert('{MARK}')</script></think>answer",
    f"| a |\n|---|\n| <img src=x onerror=alert('{MARK}')> |",
    f"\"><script>alert('{MARK}')</script>",
    f"'><img src=x onerror=alert('{MARK}')>",
    f"</textarea><script>alert('{MARK}')</script>",
    f"</title><script>alert('{MARK}')</script>",
    f"{{{{ 7*7 }}}}<!--{MARK}--><script>alert('{MARK}')</script>",
]

# Names the SSRF tests' resolver knows (tests/security/test_ssrf.py patches socket.getaddrinfo);
# every other name that is not an address literal fails to resolve.
DNS: dict[str, list[str]] = {
    "cdn.example": ["93.184.216.34"],
    "localhost": ["127.0.0.1", "::1"],
    "internal.example": ["10.0.0.5"],
    "rfc1918-172.example": ["172.20.1.1"],
    "rfc1918-192.example": ["192.168.1.1"],
    "metadata.example": ["169.254.169.254"],
    "cgnat.example": ["100.64.0.7"],
    "ula.example": ["fd00::1"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "half-private.example": ["93.184.216.34", "10.0.0.5"],  # one bad answer is enough
    "gw.example": ["127.0.0.1"],
}
# The configured gateway in these tests: its own host and port may be private.
GATEWAY = "http://gw.example:3000"

# URLs no outbound fetch may ask for, directly or as a redirect's target.
SSRF: list[str] = [
    "http://127.0.0.1/a.png",
    "http://127.0.0.1:3000/a.png",
    "http://localhost/a.png",
    "http://LOCALHOST./a.png",
    "http://[::1]/a.png",
    "http://0.0.0.0/a.png",
    "http://0/a.png",
    "http://[::]/a.png",
    "http://10.1.2.3/a.png",
    "http://172.16.0.1/a.png",
    "http://172.31.255.254/a.png",
    "http://192.168.0.1/a.png",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/a.png",
    "http://100.127.255.254/a.png",
    "http://[fc00::1]/a.png",
    "http://[fd12:3456::1]/a.png",
    "http://[fe80::1]/a.png",
    "http://[fe80::1%25eth0]/a.png",
    "http://[fec0::1]/a.png",
    "http://[::ffff:127.0.0.1]/a.png",
    "http://[::ffff:7f00:1]/a.png",
    "http://[::ffff:169.254.169.254]/a.png",
    "http://[::127.0.0.1]/a.png",  # IPv4-compatible (deprecated form)
    "http://[64:ff9b::a00:1]/a.png",  # NAT64 of 10.0.0.1
    "http://[64:ff9b::7f00:1]/a.png",  # NAT64 of 127.0.0.1
    "http://[2002:7f00:1::1]/a.png",  # 6to4 of 127.0.0.1
    "http://[2002:a9fe:a9fe::1]/a.png",  # 6to4 of 169.254.169.254
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/a.png",  # Teredo, client 127.0.0.1
    "http://2130706433/a.png",  # 127.0.0.1 in decimal
    "http://0177.0.0.1/a.png",  # octal
    "http://0x7f.1/a.png",  # hex, short form
    "http://0x7f000001/a.png",
    "http://127.1/a.png",
    "http://224.0.0.1/a.png",
    "http://192.0.2.10/a.png",  # documentation ranges
    "http://[2001:db8::1]/a.png",
    "http://240.0.0.1/a.png",  # reserved
    "http://255.255.255.255/a.png",
    "http://internal.example/a.png",
    "http://rfc1918-172.example/a.png",
    "http://rfc1918-192.example/a.png",
    "http://metadata.example/latest/meta-data/",
    "http://cgnat.example/a.png",
    "http://ula.example/a.png",
    "http://mapped.example/a.png",
    "http://half-private.example/a.png",
    "http://gw.example/a.png",  # the gateway's host on its default port
    "http://gw.example:6379/a.png",  # ... and on another port: another service
    "http://gateway@127.0.0.1/a.png",
    "http://cdn.example@127.0.0.1/a.png",
    "http://user:pw@cdn.example/a.png",
    "http://127.0.0.1#@cdn.example/a.png",
    "http://127.0.0.1\\@cdn.example/a.png",
    "http://unknown.example/a.png",  # does not resolve
    "file:///etc/passwd",
    "ftp://cdn.example/a.png",
    "gopher://127.0.0.1:6379/_INFO",
    "dict://127.0.0.1:11211/stat",
    "data:image/png;base64,iVBORw0KGgo=",
    "//127.0.0.1/a.png",
    "cdn.example/a.png",
    "",
]

URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "xlink:href",
    "data",
    "poster",
    "background",
    "srcset",
    "content",
}
# Elements no payload may bring in, whatever their attributes.
FOREIGN = {"script", "iframe", "object", "embed", "base", "meta", "form", "svg", "math", "style"}
FOREIGN |= {"link", "frame", "frameset", "applet", "template", "noscript", "body", "html"}
SAFE_DATA = re.compile(r"data:image/(png|jpeg|gif|webp)[;,]")
CONTROL = re.compile(r"[\x00-\x20\x7f]+")


def _is_own_path(url: str) -> bool:
    return url.startswith("/") and not url.startswith(("//", "/\\"))


class _Finder(HTMLParser):
    def __init__(self, *, data_images: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.data_images = data_images
        self.found: list[str] = []
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # A page's own form posting back to itself carries the query string in its action.
        values = " ".join(
            value or ""
            for name, value in attrs
            if not (name == "action" and _is_own_path(value or ""))
        )
        if tag in FOREIGN and MARK in values:
            self.found.append(f"<{tag}> carrying the payload")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on") and MARK in value:
                self.found.append(f"<{tag} {name}>")
            if name == "style" and MARK in value:
                self.found.append(f"<{tag} style> from the payload")
            if name in URL_ATTRIBUTES:
                url = CONTROL.sub("", value).lower()
                if url.startswith(("javascript:", "vbscript:")):
                    self.found.append(f"<{tag} {name}={value!r}>")
                if url.startswith("data:") and not (self.data_images and SAFE_DATA.match(url)):
                    self.found.append(f"<{tag} {name}={value[:40]!r}>")
        if tag in ("script", "style"):
            self._in.append(tag)
            self._json = dict(attrs).get("type") in ("application/json", "application/ld+json")

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._in and MARK in data and not getattr(self, "_json", False):
            self.found.append(f"<{self._in[-1]}> holding the payload")


def executable_markup(html: str, *, data_images: bool = False) -> list[str]:
    """What in `html` could run: a script or style the payload brought, an on* handler, a
    javascript:/vbscript:/data: URL (data: images only where `data_images`)."""
    finder = _Finder(data_images=data_images)
    finder.feed(html)
    finder.close()
    return finder.found
