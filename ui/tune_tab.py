"""The Tune tab: how to pick the learning rate (range test, search, fair comparison)."""

import streamlit as st


def render(specs) -> None:
    st.caption("LR range test, search and fair comparison: coming next.")
