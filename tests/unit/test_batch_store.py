"""The batch result store: sets keyed by their configuration, atomic parts, rows and maps read back by pandas."""

import json

import numpy as np
import pandas as pd
import pytest

from explainers.batch.store import (
    ResultSet, SetConfig, input_id, read_manifest, read_map, read_results, write_manifest,
)

MODEL = {"name": "tiny", "source": "test", "sha256": "ab" * 32, "sha256_of": "parameters"}


def _row(i, error=None):
    return {"input_id": input_id(str(i).encode()), "path": f"img{i}.png", "label": str(i % 2), "prediction": "1",
            "confidence": 0.75, "correct": i % 2 == 1, "target": "1", "method": "grad-cam", "params": "{}",
            "runtime_s": 0.01, "n_forward": 1, "n_backward": 1, "device": "cpu", "worker": "w0", "error": error,
            "faith_srg": 0.1 * i}


def test_a_changed_parameter_is_another_set_and_the_same_configuration_the_same_set():
    a = SetConfig("rise", {"n_masks": 500}, MODEL)
    assert SetConfig("rise", {"n_masks": 500}, dict(MODEL)).id == a.id
    assert SetConfig("rise", {"n_masks": 501}, MODEL).id != a.id
    assert SetConfig("rise", {"n_masks": 500}, {**MODEL, "sha256": "cd" * 32}).id != a.id
    assert SetConfig("rise", {"n_masks": 500}, MODEL, options={"steps": 10}).id != a.id
    assert a.id.startswith("rise-") and len(a.id) == len("rise-") + 8


def test_rows_and_maps_round_trip_through_pandas_and_numpy(tmp_path):
    s = ResultSet(tmp_path, SetConfig("grad-cam", {}, MODEL))
    rows = [_row(i) for i in range(3)] + [_row(3, error="img3.png is not an image.")]
    maps = {r["input_id"]: np.full((4, 5), i, np.float32) for i, r in enumerate(rows[:3])}
    s.write(rows, maps)
    write_manifest(tmp_path, {"model": MODEL, "methods": ["grad-cam"]}, [s])
    frame = pd.read_parquet(s.dir / "rows")  # without Lumen
    assert len(frame) == 4 and frame["faith_srg"].tolist() == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert frame["map_part"].isna().tolist() == [False, False, False, True]
    results = read_results(tmp_path)
    assert set(results["set"]) == {s.config.id}
    for i, row in results.iterrows():
        m = read_map(tmp_path, row)
        assert (m is None) == (not pd.isna(row["error"]))
        if m is not None:
            assert m.shape == (4, 5) and float(m[0, 0]) == i
    assert s.done_ids() == {r["input_id"] for r in rows}
    assert read_manifest(tmp_path)["sets"] == {"grad-cam": s.config.id}


def test_no_part_is_visible_before_it_is_whole(tmp_path):
    s = ResultSet(tmp_path, SetConfig("grad-cam", {}, MODEL))
    assert s.done_ids() == set()
    (s.dir / "rows" / ".part-x.parquet.tmp").write_bytes(b"half a file")  # a write killed half way
    assert s.done_ids() == set()
    assert json.loads((s.dir / "set.json").read_text())["method"] == "grad-cam"


def test_a_directory_without_a_manifest_is_refused_with_a_sentence(tmp_path):
    with pytest.raises(ValueError, match="not a Lumen result directory"):
        read_manifest(tmp_path)
