"""Colours and marker symbols per racer.

The colours are Okabe & Ito's qualitative palette, which stays distinguishable under the
common colour-vision deficiencies. Its yellow comes last because it vanishes against the
light end of the surface colormap; markers also differ by symbol, so colour is never the
only cue.
"""

OKABE_ITO = (
    "#D55E00",  # vermillion
    "#0072B2",  # blue
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)

# "x" is left out: it marks a run that diverged.
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "pentagon", "hexagon", "star-square")

DIVERGED_SYMBOL = "x"
START_COLOUR = "#FFFFFF"
MINIMUM_COLOUR = "#FFFFFF"


def colour(i: int) -> str:
    """Colour of the i-th racer (cycles after eight)."""
    return OKABE_ITO[i % len(OKABE_ITO)]


def symbol(i: int) -> str:
    """Marker symbol of the i-th racer (cycles after seven)."""
    return SYMBOLS[i % len(SYMBOLS)]
