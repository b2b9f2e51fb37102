"""Copy as PyTorch for the model mode: a self-contained script that trains each racer with
``torch.nn`` and ``torch.optim`` and lands where the lab's trainer lands.

The script rebuilds the same data, the same network from the same seed (``MLP.init`` is
torch's default ``nn.Linear`` init after ``torch.manual_seed``), and trains one racer after
another in float64 with the trainer's loop: the same batches (the lab's own ``minibatches``,
copied in), the same dropout masks, the scheduler stepped after the optimizer
(ReduceLROnPlateau with the batch loss), the same divergence and early-stopping rules. A SAM
racer takes the paper's two-pass step (Foret et al. 2021, Algorithm 1) around its
``torch.optim`` optimizer. It prints each racer's end and ``main()`` returns it.

Data: a generated set (moons, circles, ...) is written into the script as its standardised
train and validation arrays, exact to the last bit (``repr`` of each float; about 45 bytes a
point), so the script needs no copy of the lab's generators. A bundled table is loaded from
scikit-learn (the script imports it) and split by the row numbers the lab drew, then scaled
with the training rows' mean and std as the lab does.

Dropout: ``nn.Dropout`` draws its own masks; the lab draws one mask per hidden layer and step
from ``torch.Generator().manual_seed(seed)``, shared by all racers, and the script's
``SharedDropout`` layers use those same masks, so dropout runs match too.
"""

import inspect

from landscapes.models import DATASETS, MLP, make_dataset
from landscapes.models.mlp import ACTIVATIONS

from .._torch_text import WIDTH, literal, string
from ..export import RAW_ADAM, optimizer_call, without_bias_correction
from ..spec import thaw_dict
from .spec import Racer, TrainConfig
from .train import DIVERGENCE_FACTOR, minibatches

_HEADER = '''"""{runs} from optim-lab's model mode, reproduced with torch.nn and torch.optim.

Float64 throughout, like the lab; every racer starts from the same seeded weights and sees the
same batches and dropout masks, so each lands where the lab's racer lands, to rounding.
"""

import math

{imports}
torch.set_default_dtype(torch.float64)  # as the lab; NAdam keeps its mu product in this dtype
'''

_DROPOUT = '''

class SharedDropout(nn.Module):
    """Dropout with masks drawn outside (draw_masks), as the lab shares one per step."""

    def forward(self, a):
        return a * self.mask if self.training else a


def draw_masks(net, rows, generator):
    keep = 1.0 - DROPOUT
    odds = torch.full((rows, WIDTH), keep)
    for layer in net:
        if isinstance(layer, SharedDropout):
            layer.mask = torch.bernoulli(odds, generator=generator) / keep
'''

_TRAIN = '''

def evaluate(net, x, y):
    """Mean cross-entropy of the whole set, without dropout."""
    net.eval()
    with torch.no_grad():
        loss = nn.functional.cross_entropy(net(x), y).item()
    net.train()
    return loss


def sam_gradient(net, params, x, y, rho):
    """Replace each p.grad (taken at theta) by the gradient at theta + rho g / |g| (SAM)."""
    g = torch.cat([p.grad.flatten() for p in params])
    norm = torch.linalg.vector_norm(g)
    scale = rho / norm if norm > 0 else 0.0
    theta = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p in params:
            p.add_(p.grad * scale)
    for p in params:
        p.grad = None
    nn.functional.cross_entropy(net(x), y).backward()  # same batch, same dropout masks
    with torch.no_grad():
        for p, old in zip(params, theta):
            p.copy_(old)


def train(label, net, optimizer, scheduler, sam_rho=0.0):
    """The lab's loop. Diverged: a non-finite loss or weights, or a loss above BLOWUP_FACTOR
    times the start's (at least log of the class count). Early stopping: PATIENCE
    evaluations in a row, every EVAL_EVERY steps, without a lower validation loss."""
    params = list(net.parameters())
    batches = minibatches(len(Y_TRAIN), BATCH_SIZE, STEPS, SEED)
    generator = torch.Generator().manual_seed(SEED)
    blowup = BLOWUP_FACTOR * max(evaluate(net, X_TRAIN, Y_TRAIN), math.log(N_CLASSES))
    best, best_step, bad_evals = evaluate(net, X_VAL, Y_VAL) if len(Y_VAL) else math.inf, 0, 0
    status, stop = "ran", STEPS  # or "diverged" / "stopped early" at step stop
    for t in range(STEPS):
        rows = slice(None) if batches is None else torch.as_tensor(batches[t])
        x, y = X_TRAIN[rows], Y_TRAIN[rows]
        if DROPOUT:
            draw_masks(net, len(y), generator)
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        if sam_rho:
            sam_gradient(net, params, x, y, sam_rho)
        optimizer.step()
        weights = nn.utils.parameters_to_vector(params)
        if not (math.isfinite(loss.item()) and loss.item() <= blowup
                and torch.isfinite(weights).all()):
            status, stop = "diverged", t + 1
            break
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(loss.item())
        elif scheduler is not None:
            scheduler.step()
        s = t + 1
        if len(Y_VAL) and (s % EVAL_EVERY == 0 or s == STEPS):
            val = evaluate(net, X_VAL, Y_VAL)
            if val < best:
                best, best_step, bad_evals = val, s, 0
            else:
                bad_evals += 1
            if PATIENCE is not None and bad_evals >= PATIENCE:
                status, stop = "stopped early", s
                break
    diverged = status == "diverged"
    result = {
        "label": label,
        "status": status,
        "stop_step": stop,
        "train_loss": math.nan if diverged else evaluate(net, X_TRAIN, Y_TRAIN),
        "val_loss": math.nan if diverged or not len(Y_VAL) else evaluate(net, X_VAL, Y_VAL),
        "weights": nn.utils.parameters_to_vector(params).detach(),
    }
    end = f"ran {stop} steps" if status == "ran" else f"{status} at step {stop}"
    if status == "stopped early":
        end += f" (best validation loss at step {best_step})"
    print(f"{label}: {end}, training loss {result['train_loss']!r}, "
          f"validation loss {result['val_loss']!r}")
    return result
'''


def to_pytorch_model(data_spec: dict, model: MLP, racers, config: TrainConfig) -> str:
    """A runnable script training ``racers`` on ``model`` and the data set ``data_spec``
    (``{"name": <registry name>, **its parameters}``, as ``make_dataset`` takes them) with
    torch.optim, as ``train(data, model, racers, config)`` does (see the module doc)."""
    if not racers:
        raise ValueError("to_pytorch_model: no racers to export")
    spec = dict(data_spec)
    data = make_dataset(spec.pop("name", None), **spec)
    if (model.n_inputs, model.n_classes) != (data.n_features, data.n_classes):
        raise ValueError(
            f"to_pytorch_model: the model takes {model.n_inputs} features and "
            f"{model.n_classes} classes; {data.name} has {data.n_features} and {data.n_classes}"
        )
    loader = DATASETS[data.name].sklearn_loader
    minibatched = config.batch_size is not None and config.batch_size < len(data.y_train)
    imports = "import numpy as np\n" if loader or minibatched else ""
    imports += "import torch\n" + ("from sklearn import datasets\n" if loader else "")
    imports += "from torch import nn\n"
    runs = "One racer" if len(racers) == 1 else f"{len(racers)} racers"
    body = _HEADER.format(runs=runs, imports=imports) + _settings(data, model, config)
    body += _bundled_data(data, loader) if loader else _embedded_data(data)
    body += "\n\n" + inspect.getsource(minibatches)
    body += _DROPOUT if model.dropout else ""
    body += _network(model, config.seed)
    optimizers = dict.fromkeys(r.optimizer_def for r in racers)
    body += "".join(opt.script_class for opt in optimizers if not opt.torch_class)
    body += RAW_ADAM if any(without_bias_correction(r) for r in racers) else ""
    body += _TRAIN + "\n\ndef main():\n    results = []\n"
    body += "\n".join(_racer_source(i, racer) for i, racer in enumerate(racers, 1))
    return body + '    return results\n\n\nif __name__ == "__main__":\n    main()\n'


def _settings(data, model: MLP, config: TrainConfig) -> str:
    values = {
        "STEPS": config.steps,
        "BATCH_SIZE": config.batch_size,
        "SEED": config.seed,
        "EVAL_EVERY": config.eval_every,
        "PATIENCE": config.patience,
        "DROPOUT": model.dropout,
        "WIDTH": model.width,
        "N_CLASSES": data.n_classes,
        "BLOWUP_FACTOR": DIVERGENCE_FACTOR,
    }
    return "\n" + "".join(f"{name} = {literal(value)}\n" for name, value in values.items())


def _embedded_data(data) -> str:
    parts = [f"\n# {data.name}: standardised with the training rows' mean and std\n"]
    for name, x, y in (("TRAIN", data.x_train, data.y_train), ("VAL", data.x_val, data.y_val)):
        parts.append(f"X_{name} = {_tensor(x.ravel().tolist())}.view({len(y)}, {x.shape[1]})\n")
        parts.append(f"Y_{name} = {_tensor(y.tolist())}\n")
    return "".join(parts)


def _bundled_data(data, loader: str) -> str:
    return f"""
# {data.name}, scikit-learn's bundled copy, split by the lab's seeded draw
X, Y = datasets.{loader}(return_X_y=True)
TRAIN_ROWS = {_wrapped(data.train_rows.tolist())}
VAL_ROWS = {_wrapped(data.val_rows.tolist())}
MEAN, STD = X[TRAIN_ROWS].mean(axis=0), X[TRAIN_ROWS].std(axis=0)
SCALE = np.where(STD > 0, STD, 1.0)
X_TRAIN = torch.as_tensor((X[TRAIN_ROWS] - MEAN) / SCALE)
Y_TRAIN = torch.as_tensor(Y[TRAIN_ROWS], dtype=torch.int64)
X_VAL = torch.as_tensor((X[VAL_ROWS] - MEAN) / SCALE)
Y_VAL = torch.as_tensor(Y[VAL_ROWS], dtype=torch.int64)
"""


def _tensor(values: list) -> str:
    dtype = "" if values and isinstance(values[0], float) else ", dtype=torch.int64"
    return f"torch.tensor(\n    {_wrapped(values, 4)}{dtype}\n)"


def _wrapped(values: list, indent: int = 0) -> str:
    """``[a, b, ...]`` with as many items per line as fit the page."""
    if not values:
        return "[]"
    pad = " " * (indent + 4)
    lines, line = [], pad
    for item in (f"{v!r}," for v in values):
        if len(line) + len(item) + 1 > WIDTH and line.strip():
            lines.append(line.rstrip())
            line = pad
        line += item + " "
    lines.append(line.rstrip())
    return "[\n" + "\n".join(lines) + "\n" + " " * indent + "]"


def _network(model: MLP, seed: int) -> str:
    """``make_net()``: the lab's MLP as nn layers, initialised from the seed."""
    act = f"nn.{ACTIVATIONS[model.activation][0].__name__}()"
    lines = []
    for layer in model.layers[:-1]:
        lines.append(f"nn.Linear({layer.shape[1]}, {layer.shape[0]}), {act},")
        lines += ["SharedDropout(),"] if model.dropout else []
    lines.append(f"nn.Linear({model.layers[-1].shape[1]}, {model.layers[-1].shape[0]}),")
    layers = "".join(f"        {line}\n" for line in lines)
    return f'''

def make_net():
    """The lab's network with torch's default init from the seed (the same for every racer)."""
    torch.manual_seed({seed})
    return nn.Sequential(
{layers}    )
'''


def _racer_source(index: int, racer: Racer) -> str:
    scheduler = racer.lr_schedule.definition.torch_source(thaw_dict(racer.schedule_params), 4)
    sam = f", sam_rho={racer.sam_rho!r}" if racer.sam_rho else ""
    what = f"SAM (rho {racer.sam_rho!r}) around {racer.optimizer}" if sam else racer.optimizer
    lines = [
        f"    # {index}. {racer.label}: {what}, schedule {racer.schedule}",
        "    net = make_net()",
        f"    optimizer = {optimizer_call(racer, 'net.parameters()', 4)}",
        f"    scheduler = {scheduler}",
        f"    results.append(train({string(racer.label)}, net, optimizer, scheduler{sam}))",
    ]
    return "\n".join(lines) + "\n"
