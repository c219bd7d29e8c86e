"""Train the model and write DIR/model.keras and DIR/metadata.json.

    python -m mlapp.model.train --data PATH_OR_URL [--sha256 HEX] --out DIR [--epochs N] [--seed N]

The model is fit on 80 % of the rows and scored on the other 20 % (a stratified split drawn from --seed):
metadata.json records the hold-out metrics (accuracy, precision, recall, F1, ROC AUC, the majority-class
baseline, the confusion matrix), the split's seed, and the accuracy on the training rows.

The data set is a local CSV path or an http(s)/file URL; with --sha256 its digest must match (exit 1
with a message otherwise). metadata.json is replaced first, then model.keras, each atomically (temporary
file + rename), so a worker reloading on the model file's change never sees a half-written file and
finds the new metadata next to it.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlapp.config import METADATA_FILENAME, MODEL_FILENAME
from mlapp.features import FEATURES
from mlapp.model.dataset import DatasetError, fetch, is_url, load_csv
from mlapp.model.metadata import ModelMetadata, write_metadata
from mlapp.model.split import DEFAULT_HOLDOUT_FRACTION

DEFAULT_EPOCHS = 150
DEFAULT_BATCH_SIZE = 10
DEFAULT_SEED = 7
DIGITS = 6


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, DIGITS) if isinstance(v, float) else v for k, v in values.items()}


def _sha256(text: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text.strip()):
        raise argparse.ArgumentTypeError("expected 64 hexadecimal digits")
    return text.strip().lower()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mlapp.model.train",
        description="Train the diabetes model (Keras 8-12-8-1) and write model.keras + metadata.json.",
    )
    parser.add_argument("--data", required=True, help="CSV path or http(s)/file URL of the data set")
    parser.add_argument("--sha256", type=_sha256, help="expected sha256 of the data set")
    parser.add_argument("--out", required=True, type=Path, help="directory for model.keras and metadata.json")
    parser.add_argument("--epochs", type=_positive_int, default=DEFAULT_EPOCHS, help="default %(default)s")
    parser.add_argument(
        "--batch-size", type=_positive_int, default=DEFAULT_BATCH_SIZE, help="default %(default)s"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help="random seed of the hold-out split and the training, default %(default)s",
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> ModelMetadata:
    with tempfile.TemporaryDirectory(prefix="mlapp-data-") as workdir:
        path = fetch(args.data, Path(workdir), args.sha256)
        dataset = load_csv(path, source=args.data if is_url(args.data) else str(Path(args.data).resolve()))
    from mlapp.model import network  # TensorFlow only once the data set is known to be good

    started = time.monotonic()
    result = network.train(
        dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        holdout_fraction=DEFAULT_HOLDOUT_FRACTION,
    )
    metadata = ModelMetadata(
        accuracy=round(result.accuracy, DIGITS),
        loss=round(result.loss, DIGITS),
        data_sha256=dataset.sha256,
        data_source=dataset.source,
        rows=dataset.rows,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        features=FEATURES,
        framework=network.framework_version(),
        train_accuracy=round(result.train_accuracy, DIGITS),
        holdout=_rounded(result.holdout),
    )
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    write_metadata(out / METADATA_FILENAME, metadata)
    from mlapp.model.files import atomic_replace

    atomic_replace(out / MODEL_FILENAME, lambda tmp: result.model.save(tmp))
    holdout = result.holdout
    auc = "n/a" if holdout["roc_auc"] is None else f"{holdout['roc_auc']:.4f}"
    print(
        f"trained on {dataset.rows - holdout['rows']} of {dataset.rows} rows in "
        f"{time.monotonic() - started:.1f}s ({args.epochs} epochs, seed {holdout['seed']}): "
        f"hold-out accuracy {result.accuracy:.4f} (majority baseline {holdout['baseline_accuracy']:.4f}), "
        f"precision {holdout['precision']:.4f}, recall {holdout['recall']:.4f}, F1 {holdout['f1']:.4f}, "
        f"ROC AUC {auc}, loss {result.loss:.4f} on {holdout['rows']} hold-out rows; "
        f"training accuracy {result.train_accuracy:.4f}; wrote {out / MODEL_FILENAME}"
    )
    return metadata


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except DatasetError as exc:
        print(f"train: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"train: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
