"""Every size a user can set, in one table: validation, widgets and the URL reader use these.

Each bound keeps one rerun's work bounded (a link is untrusted input: 800 racers x 2000 steps
once took minutes and built a 218 MB figure) while leaving room for what a lesson or an
engineer's comparison needs.
"""

from common.params import MAX_NUMBER_CHARS as MAX_NUMBER_CHARS  # the text of one number
from common.params import Interval, Param

MAX_STEPS = 10_000
MAX_RACERS = 6
MAX_FORMULA_CHARS = 300  # measured on the stored (canonical) text, as on what was typed
MAX_BASIN_RESOLUTION = 512  # cells per axis of a basin map
MAX_SENSITIVITY_CELLS = 64  # cells per axis of a sensitivity map
MAX_ENSEMBLE_RUNS = 256  # runs in a gradient-noise ensemble
MAX_LABEL_CHARS = 40  # a racer's name
MAX_URL_VALUE_CHARS = 4_000  # one query parameter's text, before it is parsed
MAX_JSON_DEPTH = 6  # nesting of a JSON value in a link (a SequentialLR racer needs 5)
# Integer schedule parameters (step_size, total_iters, T_0, T_mult, ...): far beyond any run
# length, small enough that closed forms stay exact in float64 and never overflow.
MAX_SCHEDULE_INT = 1_000_000

STEPS = Param("steps", 500, Interval(1, MAX_STEPS, integer=True), "optimizer steps")
RACERS = Interval(1, MAX_RACERS, integer=True)
BASIN_RESOLUTION = Interval(2, MAX_BASIN_RESOLUTION, integer=True)
SENSITIVITY_CELLS = Interval(1, MAX_SENSITIVITY_CELLS, integer=True)  # 1: a line scan
ENSEMBLE_RUNS = Interval(2, MAX_ENSEMBLE_RUNS, integer=True)
SCHEDULE_COUNT = Interval(1, MAX_SCHEDULE_INT, integer=True)  # step_size, total_iters, T_0, ...
SCHEDULE_COUNT0 = Interval(0, MAX_SCHEDULE_INT, integer=True)  # patience, cooldown
# A fair comparison runs optimizers x seeds x budget searched runs: 6 x 20 x 500 random trials
# take ~10 s here, TPE several minutes; medians over 20 seeds are already steady.
MAX_SEARCH_TRIALS = 2_000  # one search from the app: a few seconds on a shared class server
MAX_FAIR_BUDGET = 500  # trials per optimizer and seed
MAX_FAIR_SEEDS = 20
# Optuna's GridSampler lists every point of a grid up front (~120 bytes and 0.3 µs each here),
# and each searched schedule's parameters multiply the grid, though a trial uses only its own.
MAX_GRID_POINTS = 500_000
MAX_SEED = 2**32 - 1  # numpy's RandomState, behind Optuna's samplers, takes no larger seed
FAIR_BUDGET = Interval(1, MAX_FAIR_BUDGET, integer=True)
FAIR_SEEDS = Interval(1, MAX_FAIR_SEEDS, integer=True)  # how many seeds
SEED = Interval(0, MAX_SEED, integer=True)


def check_size(owner: str, name: str, interval: Interval, value) -> int:
    """``value`` as an int if ``interval`` holds it, else ValueError naming the bound."""
    return Param(name, None, interval).check(owner, value)
