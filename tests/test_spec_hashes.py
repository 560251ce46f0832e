"""Every configuration of every committed spec keeps its hash (issue 20 item 4).

The hashes in spec_config_hashes.json were computed from the specs as they
were before they included shared defaults (benchmarks/specs/_defaults/):
2,349 configurations of main at a0275f2, equal after the includes;
a run's hash names its MLflow run and positions its recorded LLM calls, so an
unchanged hash is the proof that moving a spec's settings into an included
file changed no run. After an intended change (a version bump, a new row):
    python tests/test_spec_hashes.py --write   (in the suite's environment)
and review the diff of the JSON file.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

FIXTURE = Path(__file__).with_name("spec_config_hashes.json")


def spec_config_hashes() -> dict[str, str]:
    from maao.spec import SPEC_DIR, expand, load_spec

    hashes = {}
    for path in sorted(SPEC_DIR.glob("*.yaml")):
        spec = load_spec(str(path))
        for scale in spec.scales:
            for c in expand(spec, scale):
                hashes[f"{path.stem}/{scale}/{c.name}/{c.dataset}/{c.shots}/{c.seed}"] = c.config_hash()
    return hashes


def test_every_config_of_every_spec_keeps_its_hash():
    expected = json.loads(FIXTURE.read_text())
    actual = spec_config_hashes()
    changed = sorted(k for k in expected.keys() & actual.keys() if expected[k] != actual[k])
    assert not changed, f"{len(changed)} configurations changed hash, e.g. {changed[:5]}"
    assert sorted(expected.keys() - actual.keys()) == [], "configurations no spec yields any more"
    assert sorted(actual.keys() - expected.keys()) == [], \
        "new configurations: if intended, rerun `python tests/test_spec_hashes.py --write`"


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    table = spec_config_hashes()
    FIXTURE.write_text(json.dumps(table, indent=0, sort_keys=True) + "\n")
    print(f"{FIXTURE}: {len(table)} configurations")
