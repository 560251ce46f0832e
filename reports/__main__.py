"""python -m reports {table1,table2,...,table8,figure2,figure4,claims} --tracking-uri URI --scale mini --out DIR"""

from __future__ import annotations

import argparse
import os
import sys
import warnings


def _specs():
    from .fixture import method_table_specs

    return method_table_specs()


def _load(loader, *args, **kwargs):
    """Run a loader; print its "maao-..." warnings; a ReportError -> one line, None."""
    from .runs import ReportError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = loader(*args, **kwargs)
        except ReportError as e:
            print(f"error: {e}", file=sys.stderr)
            return None
    for w in caught:
        if issubclass(w.category, UserWarning) and str(w.message).startswith("maao-"):
            print(f"warning: {w.message}", file=sys.stderr)
    return result


def _ledger(paths, missing) -> list:
    """A complete table refreshes the claims ledger beside it (it reads the tables' outputs)."""
    if missing or not paths:
        return []
    from . import claims

    d = paths[0].parent
    return claims.write_ledger(claims.build_ledger(d), d)


def main(argv=None) -> int:
    specs = _specs()
    ap = argparse.ArgumentParser(prog="python -m reports", description="Build result tables from MLflow runs.")
    ap.add_argument("table", choices=sorted([*specs, "table2"]) + ["figure2", "figure4", "claims"],
                    help="which table/figure to build; claims: the claims ledger (reports/claims.md, .csv) "
                         "from the tables' committed inputs and the figure2 runs")
    ap.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"),
                    help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)")
    ap.add_argument("--scale", default="mini", help="mini or paper (default: mini)")
    ap.add_argument("--out", default=None,
                    help="output directory (default: reports/, beside this package; reports/out/ when "
                         "the runs do not cover every cell of the table's spec)")
    ap.add_argument("--metric", default="curve_test_accuracy",
                    help="figure2: metric history to plot (default: the test-accuracy curve)")
    ap.add_argument("--table", dest="source_table", default="table3",
                    help="figure4: table whose combined runs are read (default: table3)")
    args = ap.parse_args(argv)

    if args.table == "claims":
        from . import claims

        paths = claims.write_ledger(claims.build_ledger(), args.out)
        print("wrote: " + ", ".join(str(p) for p in paths))
        return 0

    if args.table == "figure2":
        from . import figure2

        curves = _load(figure2.load_curves, args.tracking_uri, args.scale, args.metric)
        if curves is None:
            return 2
        paths = figure2.write_figure(figure2.aggregate(curves), args.out)
        print("wrote: " + ", ".join(str(p) for p in paths))
        return 0

    if args.table == "figure4":
        from . import figure4

        fig = _load(figure4.load_figure4, args.tracking_uri, args.scale, args.source_table)
        if fig is None:
            return 2
        print(f"figure4: {fig.experiment}, method combined, {fig.shots} shots (median of "
              f"{', '.join(str(s) for s in fig.shot_settings)}), seed {fig.seed}")
        for r in fig.runs:
            print(f"  {r.dataset}: {r.run_name} ({r.run_id})" + (f"; {r.note}" if r.note else ""))
        paths = figure4.write_figure4(fig, args.out)
        print("wrote: " + ", ".join(str(p) for p in paths))
        return 0

    if args.table == "table2":  # rows dataset x shots, columns learners: its own layout
        from . import table2

        made = _load(table2.make, args.tracking_uri, args.scale, args.out)
        if made is None:
            return 2
        res, paths, _ = made
        paths += _ledger(paths, res.missing)
        if res.missing:
            print(f"warning: {len(res.missing)} cells of spec table2 ({args.scale}) have no finished run; "
                  "the caption says so", file=sys.stderr)
        print(table2.render_markdown(res))
        print("wrote: " + ", ".join(str(p) for p in paths))
        return 0

    from . import coverage
    from .method_table import build_table, render_markdown, write_all
    from .runs import load_runs

    df = _load(load_runs, args.tracking_uri, args.table, args.scale,
               responses=coverage.responses_file(args.table, args.scale))
    if df is None:
        return 2
    from .fixture import table_spec_for
    from .health import load_health
    from .method_table import DEFAULT_OUT

    expected = coverage.expected_cells(args.table, args.scale)
    spec = table_spec_for(args.table, args.scale, {cell[0] for cell in expected or ()})
    res = build_table(df, spec, expected)
    res.health = load_health(args.tracking_uri, df[df["method"].isin(list(spec.labels))])
    out = args.out
    if res.missing:
        # A partial table never replaces the committed full one unless asked to.
        out = out if out is not None else DEFAULT_OUT / "out"
        print(f"warning: {len(res.missing)} of {len(expected)} cells of spec {args.table} "
              f"({args.scale}) have no finished run; the caption says so", file=sys.stderr)
    paths = write_all(res, out)
    paths += _ledger(paths, res.missing)
    print(render_markdown(res))
    print("wrote: " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
