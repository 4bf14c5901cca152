"""Instructions are markdown rendered to HTML that passes an XSS suite."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from annotator.markdown import render_markdown

FORBIDDEN_TAGS = {
    "script", "iframe", "frame", "frameset", "svg", "math", "style", "form", "input", "button", "textarea",
    "select", "meta", "link", "base", "object", "embed", "applet", "video", "audio", "source", "template",
    "noscript", "xmp", "marquee", "isindex", "details", "dialog",
}  # fmt: skip
SAFE_URL_PREFIXES = ("http://", "https://", "mailto:")


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag


def parsed(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector.tags


def assert_safe(html: str) -> None:
    for tag, attrs in parsed(html):
        assert tag not in FORBIDDEN_TAGS, (tag, html)
        for name, value in attrs:
            assert not name.startswith(("on", "hx-", "data-", "style", "class", "id", "srcdoc", "form")), (name, html)
            if name in ("href", "src"):
                assert (value or "").startswith(SAFE_URL_PREFIXES), (name, value, html)
    # Text that merely reads like markup is escaped (&lt;script&gt;) and harmless; a raw "<"
    # that opens one of these tags is not, whatever the parser above made of it.
    lowered = html.lower()
    for needle in ("<script", "<iframe", "<svg", "<style", "<form", "<meta", "<object", "<embed", "<base"):
        assert needle not in lowered, (needle, html)


XSS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '<img src=x onerror="alert(1)">',
    "<img src=x onerror=alert(1)//",
    '<body onload="alert(1)">',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<iframe src=https://evil.example></iframe>",
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "<style>body{display:none}</style>",
    '<form action="https://evil.example"><button>Go</button></form>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<a href="javascript:alert(1)">x</a>',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](jav&#x09;ascript:alert(1))",
    "[x](jav\tascript:alert(1))",
    "[x](&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:text/html,<script>alert(1)</script>)",
    "![x](javascript:alert(1))",
    '![x](https://ok.example/a.png "title" onerror=alert(1))',
    '[x](https://ok.example/" onmouseover="alert(1))',
    '<a href="https://ok.example" hx-get="/workspace/" hx-trigger="load">x</a>',
    '<div hx-post="/compose/segmentannotation/" hx-trigger="load">x</div>',
    '<div hx-on:click="alert(1)" data-hx-get="/">x</div>',
    '<p style="position:fixed;top:0">cover</p>',
    '<a href="https://ok.example" class="button primary" id="submit-button">x</a>',
    "<object data=https://evil.example/x.swf></object>",
    "<embed src=https://evil.example/x.swf>",
    '<base href="https://evil.example/">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    "<!--<img src=x onerror=alert(1)>-->",
    "<details open ontoggle=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    '<input autofocus onfocus="alert(1)">',
    "<</script>script>alert(1)<</script>/script>",
    '"><script>alert(1)</script>',
    "<a href='x' onclick='alert(1)'>unclosed",
    "<table><tr><td onmouseover=alert(1)>cell",
    "[a]: javascript:alert(1)\n\n[click][a]",
    "<https://ok.example/?a=<script>>",
    "<javascript:alert(1)>",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
]


@pytest.mark.parametrize("payload", XSS)
def test_it_renders_no_active_content(payload):
    assert_safe(render_markdown(payload))
    assert_safe(render_markdown(f"# Title\n\nSome *text* {payload} more\n\n- item {payload}\n"))


def test_normal_markdown_renders():
    html = render_markdown(
        "# Heading\n\n## Sub\n\nSome **bold**, *emphasis* and ~~gone~~ text.\n\n"
        "- one\n- two\n\n1. first\n2. second\n\n"
        "[Scale](https://scale.com/docs) and <https://example.org> and ![car](https://example.org/car.png)\n\n"
        "`inline code`\n\n```\nblock code\n```\n\n> quoted\n\n| a | b |\n|---|:-:|\n| 1 | 2 |\n"
    )
    for fragment in (
        "<h1>Heading</h1>", "<h2>Sub</h2>", "<strong>bold</strong>", "<em>emphasis</em>", "<s>gone</s>",
        "<ul>\n<li>one</li>", "<ol>\n<li>first</li>", '<img src="https://example.org/car.png" alt="car">',
        "<code>inline code</code>", "<pre><code>block code\n</code></pre>", "<blockquote>", "<table>",
        "<th>b</th>",  # alignment comes as style=, which neither nh3 nor the CSP allows
    ):  # fmt: skip
        assert fragment in html, fragment
    assert '<a href="https://scale.com/docs" rel="noopener noreferrer">Scale</a>' in html
    assert '<a href="https://example.org" rel="noopener noreferrer">https://example.org</a>' in html
    assert_safe(html)


def test_relative_links_are_dropped_so_an_instruction_cannot_call_the_dashboard():
    html = render_markdown("[settings](/workspace/) ![x](/compose/media/?url=x)")
    assert "/workspace/" not in html and "/compose/media" not in html


def test_blank_instructions_render_as_nothing():
    assert render_markdown("") == "" and render_markdown("  \n ") == ""


def test_mailto_links_are_kept():
    assert 'href="mailto:ops@example.org"' in render_markdown("[mail](mailto:ops@example.org)")
