"""A click on the surface sets the start point."""

import streamlit as st


def move_start(x: float, y: float) -> None:
    """The race chart's click callback: it runs before the next run of the script, so
    before the start widgets exist (Streamlit forbids changing a widget's state after it is
    drawn in the same run). Each click is a new trigger: the same point clicked again after
    typing another start moves it back."""
    st.session_state["w.start_x"] = round(x, 4)
    st.session_state["w.start_y"] = round(y, 4)
