"""Plotly figure builders: pure functions of surfaces and trajectories, never Streamlit."""

from .palette import colour, symbol
from .race import SURFACE_TRACE, race_figure
from .schedule_preview import PREVIEW_CONFIG, schedule_preview
from .surface3d import surface_3d_figure
from .surface_image import SurfaceImage, surface_image

__all__ = [
    "PREVIEW_CONFIG",
    "SURFACE_TRACE",
    "SurfaceImage",
    "colour",
    "race_figure",
    "schedule_preview",
    "surface_3d_figure",
    "surface_image",
    "symbol",
]
