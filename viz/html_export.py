"""The race figure as files: one HTML page that plays offline, and a PNG of it.

The page embeds plotly.js (~5 MB in all) rather than linking a CDN (~240 KB), so it opens on
a laptop without a network, in a classroom or attached to a mail. It shows the race's final
state and does not start playing by itself: ▶ Play replays it, as in the app.

The PNG is the same figure drawn by kaleido, which drives a Chromium already installed
(Debian's /usr/bin/chromium is found by itself; nothing is downloaded): ~3-5 s per image.
Without kaleido or a Chromium, :func:`write_png` raises :class:`PngUnavailable`, and callers
can draw a still of the race with ``viz.video.write_still`` instead.
"""

import html

import plotly.graph_objects as go

# The app's modebar minus the logo; the PNG button stays: it works offline too.
CONFIG = {"displaylogo": False, "scrollZoom": False}
PNG_WIDTH = 1100  # px: the race and its curves side by side, as on a laptop screen


class PngUnavailable(RuntimeError):
    """kaleido, or the Chromium it drives, is missing or failed."""


def race_html(fig: go.Figure, title: str = "optim-lab race") -> str:
    """A complete HTML page showing ``fig`` (plotly.js inside; no auto-play)."""
    page = fig.to_html(include_plotlyjs=True, full_html=True, auto_play=False, config=CONFIG,
                       default_width="100%")  # fmt: skip
    return page.replace("<head>", f"<head><title>{html.escape(title)}</title>", 1)


def write_html(path_or_buffer, fig: go.Figure, title: str = "optim-lab race") -> None:
    """:func:`race_html` written to a path (UTF-8) or a text buffer."""
    page = race_html(fig, title)
    if hasattr(path_or_buffer, "write"):
        path_or_buffer.write(page)
        return
    with open(path_or_buffer, "w", encoding="utf-8") as f:
        f.write(page)


def write_png(path_or_buffer, fig: go.Figure, width: int = PNG_WIDTH) -> None:
    """``fig`` as a PNG through kaleido: its final state, without the Play button and the
    slider, which a picture cannot use (height as the figure's layout)."""
    still = go.Figure(data=fig.data, layout=fig.layout)
    still.update_layout(updatemenus=[], sliders=[])
    try:
        png = still.to_image(format="png", width=width, height=fig.layout.height)
    except Exception as err:  # ImportError, or whatever kaleido raises without a browser
        raise PngUnavailable(f"PNG export needs kaleido and Chromium: {err}") from err
    if hasattr(path_or_buffer, "write"):
        path_or_buffer.write(png)
        return
    with open(path_or_buffer, "wb") as f:
        f.write(png)
