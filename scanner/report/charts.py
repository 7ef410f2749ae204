"""The HTML report's charts: matplotlib figures (Agg) written as SVG with text kept as text, so the
browser draws Chinese names with its own fonts and the page needs no font file."""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

COLOURS = {"fail": "#c0392b", "review": "#d4a017", "pass": "#2e8b57", "other": "#4a6fa5", "muted": "#b8c4d6"}
# Fonts with Chinese glyphs first, so that labels are measured (and laid out) at their real width.
SANS = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "DejaVu Sans"]
STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "realname-scanner",
    "font.family": "sans-serif",
    "font.sans-serif": SANS,
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.unicode_minus": False,
}
# Inches at 72 dpi: 12.5 in is 900 px, the page's text column less the figure's frame.
WIDTH_IN = 12.5
_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)
_COMMENTS = re.compile(r"<!--.*?-->", re.S)


def to_svg(fig: Figure, title: str, ident: str) -> str:
    """The figure as an ``<svg>`` element to inline: no XML prolog, doctype or comments; an accessible
    title (``role="img"``, ``<title>``)."""
    buffer = io.StringIO()
    with plt.rc_context({**STYLE, "svg.hashsalt": ident}), warnings.catch_warnings():  # ids differ per chart
        # Without a font with Chinese glyphs installed, labels are measured with another font's spaces
        # (a warning per glyph); the browser still draws them with its own fonts.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    svg = _COMMENTS.sub("", _PROLOG.sub("", buffer.getvalue(), count=1))
    safe = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    svg = re.sub(
        r"<svg\b([^>]*)>",
        lambda m: (
            f'<svg{m.group(1)} role="img" aria-labelledby="{ident}-title"><title id="{ident}-title">{safe}</title>'
        ),
        svg,
        count=1,
    )
    return svg.strip()


def _figure(width: float, height: float) -> tuple[Figure, Any]:
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(width, height), dpi=72)
    return fig, ax


def stacked_bars(
    labels: Sequence[str], series: dict[str, Sequence[int]], *, xlabel: str, title: str, ident: str
) -> str:
    """Horizontal bars, one per label, each split by the series (fail, review, ...), largest first."""
    with plt.rc_context(STYLE):
        fig, ax = _figure(WIDTH_IN, 0.9 + 0.34 * max(len(labels), 1))
        y = list(range(len(labels)))[::-1]
        left = [0] * len(labels)
        for name, values in series.items():
            ax.barh(y, values, left=left, color=COLOURS.get(name, COLOURS["other"]), label=name, height=0.7)
            left = [a + b for a, b in zip(left, values, strict=True)]
        for yy, total in zip(y, left, strict=True):
            ax.text(total, yy, f" {total:,}", va="center", fontsize=9)
        ax.set_yticks(y, labels)
        ax.set_xlabel(xlabel)
        ax.set_xlim(0, max(left or [1]) * 1.15 or 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(series) > 1:
            ax.legend(loc="lower right", frameon=False)
        return to_svg(fig, title, ident)


def rate_bars(
    labels: Sequence[str],
    rates: Sequence[float],
    counts: Sequence[int],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    ident: str,
) -> str:
    """Vertical bars of a rate (0-1) per label, the group's size under each bar."""
    with plt.rc_context(STYLE):
        fig, ax = _figure(min(WIDTH_IN, max(6.0, 0.5 * len(labels) + 1.5)), 3.6)
        x = list(range(len(labels)))
        ax.bar(x, [r * 100 for r in rates], color=COLOURS["fail"], width=0.7)
        for xx, rate in zip(x, rates, strict=True):
            ax.text(xx, rate * 100, f"{rate:.0%}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(x, [f"{label}\nn={n:,}" for label, n in zip(labels, counts, strict=True)], fontsize=8)
        ax.set_ylim(0, 110)
        ax.set_ylabel(ylabel)
        ax.set_xlabel(xlabel)
        return to_svg(fig, title, ident)


def funnel_bars(labels: Sequence[str], values: Sequence[int], *, title: str, ident: str) -> str:
    """The ladder funnel: one horizontal bar per step, with its count and share of the first."""
    with plt.rc_context(STYLE):
        fig, ax = _figure(WIDTH_IN, 0.9 + 0.4 * len(labels))
        y = list(range(len(labels)))[::-1]
        first = values[0] if values and values[0] else 1
        ax.barh(y, values, color=COLOURS["other"], height=0.7)
        for yy, v in zip(y, values, strict=True):
            ax.text(v, yy, f" {v:,} ({v / first:.0%})", va="center", fontsize=9)
        ax.set_yticks(y, labels)
        ax.set_xlim(0, max(values or [1]) * 1.25 or 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("subscribers")
        return to_svg(fig, title, ident)


def delivery_bars(
    labels: Sequence[str],
    delivered: Sequence[int],
    undelivered: Sequence[int],
    pending: Sequence[int],
    *,
    title: str,
    ident: str,
) -> str:
    """Notices per stage and channel: delivered, undelivered and still pending, the delivery rate beside."""
    with plt.rc_context(STYLE):
        fig, ax = _figure(WIDTH_IN, 0.9 + 0.4 * max(len(labels), 1))
        y = list(range(len(labels)))[::-1]
        left = [0] * len(labels)
        for name, values, colour in (
            ("delivered", delivered, COLOURS["pass"]),
            ("undelivered", undelivered, COLOURS["fail"]),
            ("pending", pending, COLOURS["muted"]),
        ):
            ax.barh(y, values, left=left, color=colour, label=name, height=0.7)
            left = [a + b for a, b in zip(left, values, strict=True)]
        for yy, d, u, total in zip(y, delivered, undelivered, left, strict=True):
            rate = f"{d / (d + u):.0%} delivered" if d + u else "no receipt yet"
            ax.text(total, yy, f" {total:,} ({rate})", va="center", fontsize=9)
        ax.set_yticks(y, labels)
        ax.set_xlim(0, max(left or [1]) * 1.4 or 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("notices")
        ax.legend(loc="lower right", frameon=False)
        return to_svg(fig, title, ident)
