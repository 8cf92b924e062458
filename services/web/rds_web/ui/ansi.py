"""Build output to HTML: ANSI colours become spans, everything else is escaped.

``AnsiRenderer`` is stateful: feed it a log chunk by chunk (chunks are cut
anywhere, even inside an escape sequence) and it keeps colours open across
chunks, so a streamed log looks the same as one rendered in one go.
Supported: SGR colours (16, 256 and 24-bit), bold, dim, italic, underline,
inverse, and their resets; other escape sequences are dropped.
"""
import re

from markupsafe import escape

_SEQUENCE = re.compile(r"\x1b(?:\[([0-9;:?]*)([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
#: An escape sequence longer than this is garbage, not one cut in half.
_MAX_HELD = 256
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

_FLAGS = {1: "bold", 2: "dim", 3: "italic", 4: "underline", 7: "inverse"}
_CLEAR = {21: ("bold",), 22: ("bold", "dim"), 23: ("italic",), 24: ("underline",),
          27: ("inverse",)}

_PALETTE16 = ["#000000", "#cd3131", "#0dbc79", "#e5e510", "#2472c8", "#bc3fbc",
              "#11a8cd", "#e5e5e5", "#666666", "#f14c4c", "#23d18b", "#f5f543",
              "#3b8eea", "#d670d6", "#29b8db", "#ffffff"]


def _color256(n: int) -> str:
    if n < 16:
        return _PALETTE16[n]
    if n < 232:
        n -= 16
        levels = [0, 95, 135, 175, 215, 255]
        return "#%02x%02x%02x" % (levels[n // 36], levels[(n // 6) % 6], levels[n % 6])
    grey = 8 + (n - 232) * 10
    return "#%02x%02x%02x" % (grey, grey, grey)


class AnsiRenderer:
    def __init__(self) -> None:
        self.fg: str | None = None       # "c1" (class, 16 colours) or "#rrggbb"
        self.bg: str | None = None
        self.flags: set[str] = set()
        self._pending = ""

    def feed(self, text: str) -> str:
        """Render the next piece of output; returns HTML (a str)."""
        text = self._pending + text
        self._pending = ""
        start = text.rfind("\x1b")
        if (start != -1 and len(text) - start < _MAX_HELD
                and _SEQUENCE.match(text, start) is None):
            self._pending, text = text[start:], text[:start]  # cut inside a sequence
        text = text.replace("\r\n", "\n")
        out = []
        position = 0
        for match in _SEQUENCE.finditer(text):
            out.append(self._span(text[position:match.start()]))
            position = match.end()
            if match.group(2) == "m":
                self._apply(match.group(1))
        out.append(self._span(text[position:]))
        return "".join(out)

    def _span(self, text: str) -> str:
        text = _CONTROL.sub("", text.replace("\r", ""))
        if not text:
            return ""
        body = str(escape(text))
        classes, styles = [], []
        fg, bg = self.fg, self.bg
        if "inverse" in self.flags:
            fg, bg = bg or "c0", fg or "c7"
        for prefix, color, css in (("fg", fg, "color"), ("bg", bg, "background-color")):
            if color is None:
                continue
            if color.startswith("#"):
                styles.append("%s:%s" % (css, color))
            else:
                classes.append("ansi-%s-%s" % (prefix, color[1:]))
        classes += ["ansi-%s" % flag for flag in sorted(self.flags) if flag != "inverse"]
        if not classes and not styles:
            return body
        attributes = ""
        if classes:
            attributes += ' class="%s"' % " ".join(classes)
        if styles:
            attributes += ' style="%s"' % ";".join(styles)
        return "<span%s>%s</span>" % (attributes, body)

    def _apply(self, params: str | None) -> None:
        codes = [int(p) if p.isdigit() else 0 for p in re.split("[;:]", params or "0")]
        i = 0
        while i < len(codes):
            code = codes[i]
            if code == 0:
                self.fg = self.bg = None
                self.flags.clear()
            elif code in _FLAGS:
                self.flags.add(_FLAGS[code])
            elif code in _CLEAR:
                self.flags.difference_update(_CLEAR[code])
            elif 30 <= code <= 37:
                self.fg = "c%d" % (code - 30)
            elif 90 <= code <= 97:
                self.fg = "c%d" % (code - 90 + 8)
            elif 40 <= code <= 47:
                self.bg = "c%d" % (code - 40)
            elif 100 <= code <= 107:
                self.bg = "c%d" % (code - 100 + 8)
            elif code == 39:
                self.fg = None
            elif code == 49:
                self.bg = None
            elif code in (38, 48) and i + 1 < len(codes):
                color, used = None, 1
                if codes[i + 1] == 5 and i + 2 < len(codes):
                    color, used = _color256(min(codes[i + 2], 255)), 2
                elif codes[i + 1] == 2 and i + 4 < len(codes):
                    rgb = [min(c, 255) for c in codes[i + 2:i + 5]]
                    color, used = "#%02x%02x%02x" % tuple(rgb), 4
                if color is not None:
                    if code == 38:
                        self.fg = color
                    else:
                        self.bg = color
                i += used
            i += 1


def strip_ansi(text: str | None) -> str:
    """The text without escape sequences and control characters (for titles, summaries)."""
    return _CONTROL.sub("", _SEQUENCE.sub("", text or "").replace("\r", ""))


def ansi_to_html(text: str) -> str:
    """Render a whole log at once."""
    return AnsiRenderer().feed(text)
