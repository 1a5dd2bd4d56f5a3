"""The canned texts the demo gateway streams. Deterministic: same input, same bytes."""
# ruff: noqa: RUF001 (Chinese answers use full-width punctuation)

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

MARKER_RE = re.compile(r"\[demo:([A-Za-z0-9_]+(?::\d+)?)\]")
_TOKEN_RE = re.compile(r"\S+\s*|\s+")
_QUOTE_WORDS = 8
_QUOTE_CHARS = 60

_CODE_SAMPLE = """```python
def fibonacci(n: int) -> list[int]:
    \"\"\"Return the first n Fibonacci numbers.\"\"\"
    numbers, a, b = [], 0, 1
    for _ in range(n):
        numbers.append(a)
        a, b = b, a + b
    return numbers


print(fibonacci(10))
```"""

# Paragraphs of the `normal` reply; `{quote}` is the start of the user's question.
_DEMO_PARAGRAPHS = (
    "Hello! You asked: “{quote}”",
    "This reply comes from **Parlor's demo gateway**, a tiny stand-in for a real model that "
    "runs inside Parlor itself. It does not think about your question; it picks a sample "
    "answer by what you ask (a table, code, maths, a long answer) so you can see how "
    "replies are rendered while they arrive.",
    "What a reply can contain:",
    "- **Markdown**: headings, *emphasis*, lists and [links](https://commonmark.org).\n"
    "- Syntax-highlighted code blocks with a copy button.\n"
    "- Maths typeset with KaTeX, inline or on its own line.",
    "| Ask for | You get |\n|:--|:--|\n| a table | a table |\n| code in Rust | Rust |\n"
    "| maths | formulas |",
    "Here is a small Python function:",
    _CODE_SAMPLE,
    r"Inline maths looks like Euler's identity, $e^{i\pi} + 1 = 0$, and display maths "
    "like this:",
    r"\[ \int_0^1 x^2\,dx = \tfrac{1}{3} \]",
    "To talk to a real model, set `GATEWAY_BASE_URL` and `GATEWAY_API_KEY` (in the "
    "environment or in `.env`) to your OpenAI-compatible gateway's address and key, then "
    "restart Parlor.",
)

# Chinese text and an emoji, so that byte-level splits land inside multi-byte characters.
SPLIT_BYTES_REPLY = "你好，世界！🌍 This reply mixes 中文 and emoji ✅ to test split writes."

REASONING_TEXT = (
    "The user wants a demonstration. I will greet them, quote their question, "
    "and show markdown, code and maths."
)

SUNO_CHAT_REPLY = (
    "请求已受理，正在生成歌曲，请稍候…\n🎵🎵\n## 演示歌曲\n"
    "[点击听歌](https://example.invalid/demo.mp3)"
)

_FILLER_WORDS = ("lorem", "ipsum", "dolor", "sit", "amet")


def strip_markers(text: str) -> str:
    return MARKER_RE.sub("", text)


def _quote(user_text: str) -> str:
    words = strip_markers(user_text).split()
    if not words:
        return "(nothing yet)"
    quote = " ".join(words[:_QUOTE_WORDS])
    if len(quote) > _QUOTE_CHARS:
        quote = quote[:_QUOTE_CHARS].rstrip()
    if quote != " ".join(words):
        quote += "…"
    return quote


# --- what kind of question it is ------------------------------------------------------

GREETING: Final = "greeting"
TABLE: Final = "table"
CODE: Final = "code"
MATHS: Final = "maths"
LONG: Final = "long"
MEDIUM: Final = "medium"

_HAN_RE = re.compile(r"[\u4e00-\u9fff]")
_GREETING_RE = re.compile(
    r"^\s*(hi|hello|hey|hiya|howdy|yo|good (morning|afternoon|evening)|greetings|"
    r"你好|您好|嗨|哈喽|早上好|晚上好)[\s!.,，！。?？~]*$",
    re.IGNORECASE,
)
# First match wins, in this order: a table, code, maths, then a long answer.
_KIND_WORDS: Final = (
    (TABLE, r"\btables?\b|\btabular\b|\bcompare\b|\bcomparison\b|表格|对比|比较"),
    (
        CODE,
        r"\bcode\b|\bfunction\b|\bscript\b|\bprogram\b|\bsnippet\b|\bimplement|"
        r"\bregex\b|\bsql\b|\bjavascript\b|\btypescript\b|\brust\b|\bpython\b|"
        r"\bjava\b|\bgolang\b|\bbash\b|代码|函数|程序|脚本",
    ),
    (
        MATHS,
        r"\bmath|\bequations?\b|\bformulas?\b|\bintegral|\bderivative|\bprove\b|"
        r"\bproof\b|\btheorem\b|\balgebra|\bcalculus\b|\bmatrix\b|\bsolve\b|"
        r"数学|公式|方程|积分|导数|证明|矩阵",
    ),
    (
        LONG,
        r"\blong\b|\bin detail\b|\bdetailed\b|\bessay\b|\bexplain\b.*\bthoroughly\b|"
        r"\bin depth\b|\bcomprehensive\b|\bguide\b|详细|长篇|深入|全面",
    ),
)
_KIND_RES = tuple((kind, re.compile(words, re.IGNORECASE)) for kind, words in _KIND_WORDS)


def question_kind(user_text: str) -> str:
    """What the demo answers with: `greeting`, `table`, `code`, `maths`, `long` or `medium`."""
    text = strip_markers(user_text).strip()
    if _GREETING_RE.match(text):
        return GREETING
    for kind, words in _KIND_RES:
        if words.search(text):
            return kind
    return MEDIUM


def is_chinese(user_text: str) -> bool:
    """A question with more Han characters than Latin letters is answered in Chinese."""
    text = strip_markers(user_text)
    han = len(_HAN_RE.findall(text))
    latin = sum(1 for char in text if char.isascii() and char.isalpha())
    return han > 0 and han * 2 >= latin


# --- code in the language asked for ---------------------------------------------------

_LANGUAGES: Final = (
    ("javascript", r"\bjavascript\b|\bjs\b|\bnode(\.js)?\b|\btypescript\b|\bts\b"),
    ("rust", r"\brust\b"),
    ("go", r"\bgolang\b|\bgo\b"),
    ("sql", r"\bsql\b|\bpostgres(ql)?\b|\bsqlite\b|\bquery\b"),
    ("bash", r"\bbash\b|\bshell\b|\bsh\b|\bcommand line\b"),
    ("java", r"\bjava\b"),
    ("c", r"\bc\b(?![+#])"),
    ("python", r"\bpython\b|\bpy\b"),
)
_LANGUAGE_RES = tuple((name, re.compile(words, re.IGNORECASE)) for name, words in _LANGUAGES)

_CODE_SAMPLES: Final = {
    "python": _CODE_SAMPLE,
    "javascript": """```javascript
function fibonacci(n) {
  // Return the first n Fibonacci numbers.
  const numbers = [];
  let [a, b] = [0, 1];
  for (let i = 0; i < n; i++) {
    numbers.push(a);
    [a, b] = [b, a + b];
  }
  return numbers;
}

console.log(fibonacci(10));
```""",
    "rust": """```rust
/// Return the first n Fibonacci numbers.
fn fibonacci(n: usize) -> Vec<u64> {
    let mut numbers = Vec::with_capacity(n);
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        numbers.push(a);
        (a, b) = (b, a + b);
    }
    numbers
}

fn main() {
    println!("{:?}", fibonacci(10));
}
```""",
    "go": """```go
package main

import "fmt"

// fibonacci returns the first n Fibonacci numbers.
func fibonacci(n int) []int {
	numbers := make([]int, 0, n)
	a, b := 0, 1
	for i := 0; i < n; i++ {
		numbers = append(numbers, a)
		a, b = b, a+b
	}
	return numbers
}

func main() {
	fmt.Println(fibonacci(10))
}
```""",
    "sql": """```sql
-- The first 10 Fibonacci numbers with a recursive query.
WITH RECURSIVE fibonacci(n, a, b) AS (
    SELECT 1, 0, 1
    UNION ALL
    SELECT n + 1, b, a + b FROM fibonacci WHERE n < 10
)
SELECT n, a AS value FROM fibonacci ORDER BY n;
```""",
    "bash": """```bash
#!/usr/bin/env bash
# Print the first 10 Fibonacci numbers.
a=0 b=1
for _ in $(seq 10); do
    printf '%d ' "$a"
    (( a, b = b, a + b ))
done
echo
```""",
    "java": """```java
import java.util.ArrayList;
import java.util.List;

public class Fibonacci {
    /** Return the first n Fibonacci numbers. */
    static List<Long> fibonacci(int n) {
        List<Long> numbers = new ArrayList<>();
        long a = 0, b = 1;
        for (int i = 0; i < n; i++) {
            numbers.add(a);
            long next = a + b;
            a = b;
            b = next;
        }
        return numbers;
    }

    public static void main(String[] args) {
        System.out.println(fibonacci(10));
    }
}
```""",
    "c": """```c
#include <stdio.h>

/* Print the first n Fibonacci numbers. */
static void fibonacci(int n) {
    unsigned long a = 0, b = 1;
    for (int i = 0; i < n; i++) {
        printf("%lu ", a);
        unsigned long next = a + b;
        a = b;
        b = next;
    }
    putchar('\\n');
}

int main(void) {
    fibonacci(10);
    return 0;
}
```""",
}


def code_language(user_text: str) -> str:
    """The common language a question names, Python when it names none."""
    text = strip_markers(user_text)
    for name, words in _LANGUAGE_RES:
        if words.search(text):
            return name
    return "python"


# --- the answers -----------------------------------------------------------------------

_TABLE = """| Feature | Parlor | A plain chat page |
|:--|:--:|--:|
| Live markdown | ✅ | ❌ |
| Code highlighting | ✅ | ❌ |
| Maths with KaTeX | ✅ | ❌ |
| Team sharing | ✅ | ❌ |
| Self-hosted | ✅ | — |"""

_TABLE_ZH = """| 功能 | Parlor | 普通聊天页 |
|:--|:--:|--:|
| 实时渲染 Markdown | ✅ | ❌ |
| 代码高亮 | ✅ | ❌ |
| KaTeX 数学公式 | ✅ | ❌ |
| 团队共享 | ✅ | ❌ |
| 自行部署 | ✅ | — |"""

_MATHS = (
    "The Gaussian integral is a classic:",
    r"$$\int_{-\infty}^{\infty} e^{-x^2}\,dx = \sqrt{\pi}$$",
    r"It follows from squaring the integral, $I^2 = \int\!\!\int e^{-(x^2+y^2)}\,dx\,dy$, "
    r"and switching to polar coordinates, where $dx\,dy = r\,dr\,d\theta$:",
    r"$$I^2 = \int_0^{2\pi}\!\int_0^{\infty} e^{-r^2} r\,dr\,d\theta = \pi$$",
    r"Two more favourites: Euler's identity $e^{i\pi} + 1 = 0$ and the Basel sum "
    r"$\sum_{n=1}^{\infty} \frac{1}{n^2} = \frac{\pi^2}{6}$.",
)
_MATHS_ZH = (
    "高斯积分是一个经典例子：",
    r"$$\int_{-\infty}^{\infty} e^{-x^2}\,dx = \sqrt{\pi}$$",
    r"先把积分平方，$I^2 = \int\!\!\int e^{-(x^2+y^2)}\,dx\,dy$，"
    r"再换成极坐标，$dx\,dy = r\,dr\,d\theta$：",
    r"$$I^2 = \int_0^{2\pi}\!\int_0^{\infty} e^{-r^2} r\,dr\,d\theta = \pi$$",
    r"另外两个常见的公式：欧拉恒等式 $e^{i\pi} + 1 = 0$，"
    r"以及巴塞尔级数 $\sum_{n=1}^{\infty} \frac{1}{n^2} = \frac{\pi^2}{6}$。",
)

_LONG_SECTIONS = (
    (
        "What Parlor is",
        "Parlor is a self-hosted chat studio for teams that already pay for an "
        "OpenAI-compatible gateway. Everyone signs in with their own account, picks a model "
        "and talks to it; conversations can be shared with the team, pinned and searched.",
    ),
    (
        "How a reply travels",
        "Your question goes from the browser over a websocket to Parlor, which asks the "
        "gateway for a streamed answer. Each piece that arrives is rendered on the server, "
        "sanitised, and pushed to every tab that shows the conversation.",
    ),
    (
        "What you can try next",
        "Ask this demo for a table, for code in your favourite language, or for some maths, "
        "and watch each block render as soon as it is complete.",
    ),
)
_LONG_SECTIONS_ZH = (
    (
        "Parlor 是什么",
        "Parlor 是一个可自行部署的团队聊天工作室，连接你已有的 OpenAI 兼容网关。"
        "每个人用自己的账号登录、选择模型并对话；对话可以与团队共享、置顶和搜索。",
    ),
    (
        "回复如何传递",
        "你的问题通过 websocket 从浏览器发送到 Parlor，Parlor 再向网关请求流式回答。"
        "每一段到达的内容都在服务器上渲染、净化，然后推送到所有打开这段对话的标签页。",
    ),
    (
        "接下来可以试试",
        "向这个演示要一个表格、一段你喜欢的语言写的代码，或者一些数学公式，"
        "看看每个块在完整时立即渲染出来。",
    ),
)


def _join(*blocks: str) -> str:
    return "\n\n".join(blocks)


def _greeting(zh: bool) -> str:
    if zh:
        return (
            "你好！👋 我是 Parlor 的**演示网关**。可以让我画一个表格、写一段代码、"
            "推导一个公式，或者写一篇长一点的回答。"
        )
    return (
        "Hello! 👋 I am Parlor's **demo gateway**. Ask me for a table, some code, a bit of "
        "maths or a long answer, and see how each one renders."
    )


def _table(quote: str, zh: bool) -> str:
    if zh:
        return _join(
            f"你问的是：“{quote}”。下面是一个对比表：",
            _TABLE_ZH,
            "表格在流式输出时就会渲染，过宽时可以横向滚动。",
        )
    return _join(
        f"You asked: “{quote}”. Here is a comparison as a table:",
        _TABLE,
        "Tables render as soon as they are complete, and scroll sideways when they are wide.",
    )


def _code(quote: str, language: str, zh: bool) -> str:
    sample = _CODE_SAMPLES[language]
    if zh:
        return _join(
            f"你问的是：“{quote}”。下面是一段 `{language}` 代码：",
            sample,
            "代码块带有语法高亮和复制按钮。",
        )
    return _join(
        f"You asked: “{quote}”. Here is a small `{language}` example:",
        sample,
        "Code blocks are highlighted and have a copy button.",
    )


def _maths(quote: str, zh: bool) -> str:
    if zh:
        return _join(f"你问的是：“{quote}”。", *_MATHS_ZH)
    return _join(f"You asked: “{quote}”.", *_MATHS)


def _long(quote: str, zh: bool) -> str:
    if zh:
        parts = [f"# 一篇长回答\n\n你问的是：“{quote}”。"]
        for title, text in _LONG_SECTIONS_ZH:
            parts.append(f"## {title}\n\n{text}")
        parts += [
            "要点：\n\n- 每个块只渲染一次\n- 所有标签页看到同样的内容\n- 断线重连后继续显示",
            "> 好的工具让人忘记它的存在。",
            _TABLE_ZH,
            _CODE_SAMPLE,
            "以上就是这篇长回答的全部内容。",
        ]
        return _join(*parts)
    parts = [f"# A long answer\n\nYou asked: “{quote}”."]
    for title, text in _LONG_SECTIONS:
        parts.append(f"## {title}\n\n{text}")
    parts += [
        "In short:\n\n1. Each block is rendered once.\n2. Every tab sees the same text.\n"
        "3. A tab that reconnects picks up where it left off.",
        "> Good tools disappear while you use them.",
        _TABLE,
        _CODE_SAMPLE,
        r"And a formula for good measure: $$\sum_{k=1}^{n} k = \frac{n(n+1)}{2}$$",
        "That is the end of the long answer.",
    ]
    return _join(*parts)


def _medium(quote: str, zh: bool) -> str:
    if zh:
        return _join(
            f"你好！你问的是：“{quote}”",
            "这个回答来自 **Parlor 的演示网关**（demo gateway），它并不真正思考你的问题，"
            "而是展示回复在流式输出时如何渲染。",
            "回复可以包含：",
            "- **Markdown**：标题、*强调*、列表和[链接](https://commonmark.org)。\n"
            "- 带复制按钮的代码高亮。\n- 用 KaTeX 排版的数学公式。",
            _CODE_SAMPLE,
            r"行内公式如 $e^{i\pi} + 1 = 0$，独立公式如下：",
            r"\[ \int_0^1 x^2\,dx = \tfrac{1}{3} \]",
            "要连接真正的模型，请设置 `GATEWAY_BASE_URL` 和 `GATEWAY_API_KEY`，然后重启 Parlor。",
        )
    return "\n\n".join(_DEMO_PARAGRAPHS).replace("{quote}", quote)


def demo_reply(user_text: str) -> str:
    """The markdown answer of the `normal` scenario: it depends on what is asked (see
    `question_kind`), in Chinese when the question is, and is the same for the same text."""
    kind, zh, quote = question_kind(user_text), is_chinese(user_text), _quote(user_text)
    if kind == GREETING:
        return _greeting(zh)
    if kind == TABLE:
        return _table(quote, zh)
    if kind == CODE:
        return _code(quote, code_language(user_text), zh)
    if kind == MATHS:
        return _maths(quote, zh)
    if kind == LONG:
        return _long(quote, zh)
    return _medium(quote, zh)


def tokenize(text: str) -> list[str]:
    """Word-sized tokens with their trailing whitespace; joining them gives `text` back."""
    return _TOKEN_RE.findall(text)


def demo_tokens(user_text: str) -> list[str]:
    """The content deltas of the `normal` scenario, in order."""
    return tokenize(demo_reply(user_text))


def fixed_tokens(count: int) -> list[str]:
    return [_FILLER_WORDS[i % len(_FILLER_WORDS)] + " " for i in range(count)]


@lru_cache(maxsize=1)
def long_reply() -> str:
    """About 1500 word tokens of markdown with headings, lists and code."""
    parts = ["# A long demo answer\n\n"]
    section = 0
    while len(tokenize("".join(parts))) < 1500:
        section += 1
        parts.append(
            f"## Part {section}\n\n"
            f"This is paragraph {section} of a long reply used to measure streaming. "
            "Each part has the same shape so the size stays predictable: a paragraph, "
            "a short list and a code block, which together give the renderer some work "
            "to do while tokens keep arriving at a steady pace.\n\n"
            f"- First point of part {section}, with `inline code`.\n"
            f"- Second point of part {section}, with **bold** text.\n"
            f"- Third point of part {section}, with a formula $a_{section} = {section}^2$.\n\n"
            "```python\n"
            f"def part_{section}(x: int) -> int:\n"
            f"    return x * {section}\n"
            "```\n\n"
        )
    parts.append("That is the end of the long demo answer.")
    return "".join(parts)


# Titles (Parlor's chat.titles asks for one after a conversation's first reply): a request
# whose system message starts with TITLE_ASK gets a short title made from the user's words.
TITLE_ASK: Final = "Write a title"
_TITLE_USER_RE = re.compile(r"User:\s*(.*?)(?:\n\s*Assistant:|\Z)", re.DOTALL)
_TITLE_WORD_RE = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_TITLE_SKIP_WORDS = (
    "a an the of to in on for and or but with about me my i you your we our it its is are was "
    "be can could would should please tell give show write make explain what how why who when "
    "where which do does did some this that these those"
)
_TITLE_SKIP: Final = frozenset(_TITLE_SKIP_WORDS.split())


def demo_title(conversation: str) -> str:
    """The user's words when they are few, else up to five of the words that matter (Han
    text: its first characters), capitalised, without punctuation: what a small model would
    answer to a title request."""
    found = _TITLE_USER_RE.search(conversation)
    text = strip_markers(found.group(1) if found else conversation).strip()
    if is_chinese(text):
        han = "".join(_HAN_RE.findall(text))
        return han[:10] or "新对话"
    words = _TITLE_WORD_RE.findall(text)
    if len(words) > 6:  # a short message is its own title already
        words = [w for w in words if w.lower() not in _TITLE_SKIP][:5]
    words = words or ["New", "conversation"]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])
