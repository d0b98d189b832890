"""`nas show TRIAL --samples N --out FILE.png`: a dense trial's predictions on validation images."""

from __future__ import annotations

import os

from nas.cli.main import info

FORMATS = ("png", "svg", "pdf")


def run(args) -> int:
    """Draw input, true mask and predicted mask for `args.samples` validation images."""
    import db
    from nas.cli.train import check_out_file
    from nas.final.evaluate import find_ref
    from nas.final.predict import predict_samples
    from nas.viz.predictions import draw_predictions

    out = args.out or "predictions.png"
    fmt = (args.format or os.path.splitext(out)[1].lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ValueError(f"--samples draws a picture: end --out in .png, .svg or .pdf (got {out!r})")
    check_out_file(out, example="preds.png")
    with db.connect(args.db, read_only=True) as store:
        rec, trial = find_ref(store, args.ref, args.search)
        p = predict_samples(store, rec, trial, args.samples)
    draw_predictions(p.images, p.truth, p.predicted, p.classes, out, title=p.title, fmt=fmt)
    print(f"{p.title}: mIoU {p.miou:.4f}, pixel accuracy {p.pixel_accuracy:.4f} on these images")
    for note in p.notes:
        info(f"note: {note}")
    print(f"wrote {out}")
    return 0
