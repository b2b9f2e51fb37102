"""Take the race out of the app: GIF and MP4 for slides, HTML that plays offline, PNG, CSV,
JSON; and load a saved JSON race back. Files are made only when their button is pressed."""

import io

import streamlit as st

from optim_core.config import config_from_specs
from optim_core.exports import race_csv, race_json, specs_from_json
from viz.html_export import PngUnavailable, race_html, write_png
from viz.video import write_gif, write_mp4, write_still

from .text import plain


def export_tab(specs, runs, surface, args, figure) -> None:
    """The surface race's files, and a saved race loaded back; ``figure()`` makes the view's
    Plotly figure (only when its HTML or PNG is asked for)."""
    trajs = [t for _, t in runs]
    tables = [
        ("CSV (one row per step)", lambda: race_csv(trajs), "race.csv", "text/csv"),
        ("JSON (reloads here)", lambda: race_json(trajs), "race.json", "application/json"),
    ]
    download_buttons(runs, surface, args, figure, specs[0].start, tables)
    upload = st.file_uploader("Load a saved race (JSON)", type=["json"], key="x.upload")
    if upload is not None and st.session_state.get("x.loaded") != upload.file_id:
        st.session_state["x.loaded"] = upload.file_id
        try:
            config = config_from_specs(specs_from_json(upload.getvalue().decode("utf-8")))
        except (ValueError, UnicodeDecodeError) as err:
            st.error(f"Not loaded: {plain(err)}", icon=":material/block:")
            return
        st.session_state["pending.config"] = config  # applied before the widgets exist
        st.session_state["lesson"] = ""  # a saved race is free play
        st.rerun()


def download_buttons(runs, surface, args, figure, start, tables, prefix="x") -> None:
    """GIF, MP4, HTML and PNG of a race (paths on ``surface``; ``figure()`` makes its Plotly
    figure), then ``tables``: (label, make, file name, mime) rows. Each file is made when its
    button is pressed."""

    def video(writer):
        def make() -> bytes:
            buffer = io.BytesIO()
            writer(buffer, surface, args, runs, start=start)
            return buffer.getvalue()

        return make

    def png() -> bytes:
        buffer = io.BytesIO()
        try:
            write_png(buffer, figure())
        except PngUnavailable:  # no kaleido/Chromium: a still of the last frame instead
            write_still(buffer, surface, args, runs, start=start)
        return buffer.getvalue()

    files = [
        ("GIF (slides)", video(write_gif), "race.gif", "image/gif"),
        ("MP4 (slides)", video(write_mp4), "race.mp4", "video/mp4"),
        ("HTML (plays offline)", lambda: race_html(figure(), surface.title), "race.html",
         "text/html"),
        ("PNG", png, "race.png", "image/png"),
        *tables,
    ]  # fmt: skip
    columns = st.columns(3)
    for i, (label, make, name, mime) in enumerate(files):
        columns[i % 3].download_button(
            label, make, file_name=name, mime=mime, width="stretch", key=f"{prefix}.{name}",
            on_click="ignore", icon=":material/download:",
        )  # fmt: skip
