"""Model files that cannot run code when opened: the skops format with an explicit list of trusted types, kept only
under the lake's own `artifacts/models/`, checked against the sha256 its `models` row records.

Lakes are copied between people, so a lake's files are treated as hostile. A pickle runs whatever its author wrote
the moment it is loaded; a skops file is a zip of JSON and `.npy` arrays that names the type of every object, and
nothing is imported or built unless every named type is one of `TRUSTED` (our estimators, the numpy and
scikit-learn types they hold). Serialisation is generic: an attribute added to a model needs no change here, unless
it brings in a new type, which `save` then refuses at training time (add it to `TRUSTED` after checking that
building it from data runs no code).

`load` refuses, with one line naming the model: an old pickle (retrain), a path outside `<lake>/artifacts/models/`
(absolute, `..`, or a symlink leading out), a file whose sha256 differs from the row's, an oversized file or
archive, any type not trusted, and scikit-learn trees whose node indices point outside the tree or the input (their
predictor indexes them without bounds checks).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import skops.io as sio
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.tree import DecisionTreeRegressor
from sklearn.tree._tree import Tree

from lake.errors import LakeError
from models.features import Featurizer, MicrostructureImputer, RecipeImputer, Target
from models.gp import MaternGP
from models.short import ShortModel
from models.surrogate import CensoredRegressor, GBTRegressor, Surrogate

FOLDER = Path("artifacts") / "models"
SUFFIX = ".skops"
FORMAT, FORMAT_VERSION = "cathode-lake model", 1
MAX_FILE_BYTES = 256 * 2 ** 20          # the file as stored
MAX_UNPACKED_BYTES = 1024 * 2 ** 20     # its members, uncompressed (a zip bomb stops here)
OURS = (Surrogate, CensoredRegressor, GBTRegressor, MaternGP, Featurizer, RecipeImputer, MicrostructureImputer,
        Target, ShortModel)
TRUSTED = frozenset(
    [f"{c.__module__}.{c.__qualname__}" for c in OURS]
    + [f"builtins.{t}" for t in ("dict", "list", "tuple", "str", "int", "float", "bool")]
    + [f"numpy.{t}" for t in ("ndarray", "float64", "float32", "int64", "int32", "bool", "bool_")]
    + ["numpy.random.mtrand.RandomState",
       # scikit-learn types our estimators hold: ridge (imputer), boosted trees (GBTRegressor) with their loss
       "sklearn.linear_model._ridge.Ridge", "sklearn.linear_model._logistic.LogisticRegression",
       "sklearn.ensemble._gb.GradientBoostingRegressor",
       "sklearn.tree._classes.DecisionTreeRegressor", "sklearn.tree._tree.Tree", "sklearn.dummy.DummyRegressor",
       "sklearn._loss.loss.HalfSquaredError", "sklearn._loss._loss.CyHalfSquaredError",
       "sklearn._loss.link.IdentityLink", "sklearn._loss.link.Interval"])


def save(model, path: Path) -> str:
    """Write ``model`` to ``path`` (temporary name, fsync, rename); returns the file's sha256. Refuses a model that
    holds a type `load` would not trust, so an unloadable model is never registered."""
    try:
        data = sio.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, "model": model},
                         compression=zipfile.ZIP_DEFLATED)
    except (TypeError, ValueError) as exc:            # skops names the object it cannot store
        raise LakeError(f"cannot store the model: {' '.join(str(exc).split())[:300]}; nothing was written.") \
            from exc
    untrusted = sorted(types_in(data) - TRUSTED)
    if untrusted:
        raise LakeError(f"cannot store the model: it holds {', '.join(untrusted)}, not among the trusted types of "
                        "the model format (models.artifacts.TRUSTED); nothing was written.")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise LakeError(f"cannot write the model file {path} ({exc.strerror or exc}); nothing was committed. "
                        "Check the lake folder's permissions and free space.") from exc
    return hashlib.sha256(data).hexdigest()


def path_in_lake(root: Path, row: dict) -> Path:
    """The row's model file, resolved; refused unless it lies under `<root>/artifacts/models/`."""
    root = Path(root).resolve()
    stored = str(row.get("artifact_path") or "")
    path = (root / stored).resolve()               # follows `..` and symlinks: a link leading out is refused
    if not stored or Path(stored).is_absolute() or path.parent != root / FOLDER:
        raise _refused(row, f"its file '{stored}' is not inside the lake's {FOLDER}/ folder; a model is only loaded "
                            "from there")
    return path


def load(root: Path, row: dict):
    """The fitted model of a `models` row, after every check in the module doc; LakeError names the refusal."""
    path = path_in_lake(root, row)
    if path.suffix != SUFFIX or not row.get("artifact_sha256"):
        raise _refused(row, "it is stored as a pickle (an older cathode-lake), which can run code when opened, "
                            "so it is not loaded. Retrain: `cathode train --force`")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise _refused(row, f"cannot read {path} ({exc.strerror or exc}). Retrain: `cathode train --force`") \
            from None
    if len(data) > MAX_FILE_BYTES:
        raise _refused(row, f"its file is larger than {MAX_FILE_BYTES >> 20} MB")
    digest = hashlib.sha256(data).hexdigest()
    if digest != row["artifact_sha256"]:
        raise _refused(row, f"its file {path.name} changed since it was registered (sha256 {digest[:12]}…, the "
                            f"row records {str(row['artifact_sha256'])[:12]}…). Retrain: `cathode train --force`")
    try:
        untrusted = sorted(types_in(data) - TRUSTED)
    except LakeError as exc:
        raise _refused(row, str(exc)) from None
    if untrusted:
        raise _refused(row, f"its file holds types that are not trusted: {', '.join(untrusted[:5])}")
    try:
        box = sio.loads(data, trusted=sorted(TRUSTED))
    except Exception as exc:  # noqa: BLE001 — any failure to parse a foreign file is a refusal, not a crash
        raise _refused(row, f"its file is not a readable model file ({type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:200]})") from None
    if not isinstance(box, dict) or box.get("format") != FORMAT or box.get("format_version") != FORMAT_VERSION:
        found = box.get("format_version") if isinstance(box, dict) else type(box).__name__
        raise _refused(row, f"its file is not a {FORMAT} file of version {FORMAT_VERSION} (found {found!r}). "
                            "Retrain: `cathode train --force`")
    model = box.get("model")
    if not isinstance(model, Surrogate):
        raise _refused(row, f"its file holds a {type(model).__name__}, not a Surrogate")
    check_trees(model, row)
    return model


def types_in(data: bytes) -> set[str]:
    """Every type a skops file names (module.class), read from its schema without building anything."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
            if unpacked > MAX_UNPACKED_BYTES:
                raise LakeError(f"the model archive unpacks to {unpacked >> 20} MB, over "
                                f"{MAX_UNPACKED_BYTES >> 20} MB")
            schema = json.loads(zf.read("schema.json"))
            for info in zf.infolist():
                if info.filename.endswith(".npy"):
                    _check_array_header(zf, info)
    except (zipfile.BadZipFile, KeyError, ValueError, RecursionError) as exc:
        raise LakeError(f"not a skops model archive ({type(exc).__name__})") from None
    found, stack = set(), [schema]
    while stack:                                   # iterative: a deeply nested schema cannot overflow the stack
        node = stack.pop()
        if isinstance(node, dict):
            if "__class__" in node or "__module__" in node:
                found.add(f"{node.get('__module__')}.{node.get('__class__')}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _check_array_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """numpy allocates the shape an array's header declares before reading its data: it must fit the member."""
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(fh)
    if dtype.hasobject or int(np.prod(shape, dtype=object)) * dtype.itemsize > info.file_size:
        raise LakeError(f"array {info.filename} declares {shape} {dtype}, more than its {info.file_size} bytes")


def check_trees(model, row: dict) -> None:
    """Bounds of every scikit-learn tree in ``model``: children inside the tree and after their parent (no loops),
    split features inside the input width of the estimators holding it, boosted stages one tree each."""
    stack, seen = [(model, None)], set()
    while stack:
        obj, width = stack.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool)) or obj is None:
            continue
        seen.add(id(obj))
        if isinstance(obj, Tree):
            _check_tree(obj, width, row)
        elif isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend((x, width) for x in obj.flat)
        elif isinstance(obj, dict):
            stack.extend((v, width) for v in obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend((v, width) for v in obj)
        elif hasattr(obj, "__dict__"):
            own = getattr(obj, "n_features_in_", None)
            if own is not None:
                if width is not None and own != width:
                    raise _refused(row, f"a {type(obj).__name__} inside expects {own} inputs, its holder {width}")
                width = own
            if isinstance(obj, GradientBoostingRegressor):
                stages = getattr(obj, "estimators_", None)
                if not (isinstance(stages, np.ndarray) and stages.ndim == 2 and stages.shape[1] == 1
                        and all(isinstance(t, DecisionTreeRegressor) for t in stages.flat)):
                    raise _refused(row, "its boosted trees are not one regression tree per stage")
            stack.extend((v, width) for v in vars(obj).values())


def _check_tree(tree: Tree, width: int | None, row: dict) -> None:
    n = tree.node_count
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    idx = np.arange(n)
    leaf = left == -1
    ok = (tree.capacity == n and tree.n_outputs == 1 and (width is None or tree.n_features == width)
          and np.array_equal(leaf, right == -1)
          and np.all((left[~leaf] > idx[~leaf]) & (left[~leaf] < n))
          and np.all((right[~leaf] > idx[~leaf]) & (right[~leaf] < n))
          and np.all((feature[~leaf] >= 0) & (feature[~leaf] < tree.n_features)))
    if not ok:
        raise _refused(row, "a decision tree in its file has node or feature indices out of range")


def _refused(row: dict, why: str) -> LakeError:
    return LakeError(f"model {row.get('model_id')}: not loaded: {why}.")
