"""Build output rendering: ANSI colours to HTML, safely, chunk by chunk."""
import pytest

from rds_web.ui.ansi import AnsiRenderer, ansi_to_html


@pytest.mark.parametrize("text,html", [
    ("plain", "plain"),
    ("<script>&", "&lt;script&gt;&amp;"),
    ("\x1b[31mred\x1b[0m back", '<span class="ansi-fg-1">red</span> back'),
    ("\x1b[1;92mbold green", '<span class="ansi-fg-10 ansi-bold">bold green</span>'),
    ("\x1b[44mblue bg\x1b[49m", '<span class="ansi-bg-4">blue bg</span>'),
    ("\x1b[38;5;208mx", '<span style="color:#ff8700">x</span>'),
    ("\x1b[38;2;1;2;3mx", '<span style="color:#010203">x</span>'),
    ("\x1b[7minv", '<span class="ansi-fg-0 ansi-bg-7">inv</span>'),
    ("\x1b[4mu\x1b[24mv", '<span class="ansi-underline">u</span>v'),
    ("a\r\nb", "a\nb"),
    ("\x1b[2K\x1b[1Gcursor moves are dropped", "cursor moves are dropped"),
    ("\x1b]0;window title\x07text", "text"),
    ("bell\x07 and nul\x00", "bell and nul"),
    ("\x1b[mreset alone", "reset alone"),
])
def test_render(text, html):
    assert ansi_to_html(text) == html


def test_colours_carry_across_chunks_cut_anywhere():
    text = "a \x1b[31mred\x1b[0m \x1b[1;32mbold green\x1b[0m end"
    whole = ansi_to_html(text)
    for cut in range(len(text)):
        renderer = AnsiRenderer()
        parts = renderer.feed(text[:cut]) + renderer.feed(text[cut:])
        assert _strip(parts) == _strip(whole), cut


def _strip(html):
    """Text with its colour per character, independent of how spans are split."""
    import re
    out, colour = [], ""
    for match in re.finditer(r'<span([^>]*)>|</span>|([^<]+)', html):
        if match.group(1) is not None:
            colour = match.group(1)
        elif match.group(0) == "</span>":
            colour = ""
        else:
            out += [(ch, colour) for ch in match.group(2)]
    return out


def test_garbage_escape_is_not_held_forever():
    renderer = AnsiRenderer()
    assert renderer.feed("x\x1b" + "y" * 300) == "x" + "y" * 300
