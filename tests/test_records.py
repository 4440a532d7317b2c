"""The record store: atomic writes, checksums, and records that belong to a spec version."""

from __future__ import annotations

import json

from conftest import synthetic_record

from ntkbench import parse_spec
from ntkbench.storage._cells import Cell, cells_of
from ntkbench.storage import RecordStore, read_record, write_json_atomically

SPEC = """\
name: store
dataset: {name: fashion_mnist, n_test: 100}
architecture: {name: mlp, width: 16, depth: 1}
learners: [{name: ntk_infinite}, {name: entk_init}]
sweep: {n_train: [10, 20], seeds: [0, 1]}
"""


def record_for(spec_dict, cell, error=0.5):
    return synthetic_record(spec_dict, cell, error)


def test_a_record_is_written_as_given_and_read_back_typed(tmp_path):
    spec_dict = parse_spec(SPEC).as_dict()
    cell = cells_of(spec_dict)[0]
    record = record_for(spec_dict, cell)
    path = RecordStore(tmp_path).write(spec_dict, cell, record)
    on_disk = json.loads(path.read_text())
    assert "traceback" not in on_disk and "test_outcomes" not in on_disk  # only the fields that were set
    assert read_record(path) == record.model_copy(update={"checksum": on_disk["checksum"]})
    on_disk.pop("device")
    rewritten = tmp_path / "incomplete.json"
    write_json_atomically(rewritten, {**on_disk, "checksum": None})
    assert read_record(rewritten) is None  # a record without its checksum or its provenance is not one


def test_cells_cover_the_sweep():
    spec_dict = parse_spec(SPEC).as_dict()
    cells = cells_of(spec_dict)
    assert len(cells) == 2 * 2 * 2 and len(set(cells)) == 8
    assert cells[0] == Cell("ntk_infinite", 0, 10)


def test_atomic_write_leaves_only_the_final_file(tmp_path):
    target = tmp_path / "a" / "record.json"
    write_json_atomically(target, {"x": 1})
    write_json_atomically(target, {"x": 2})
    assert json.loads(target.read_text()) == {"x": 2}
    assert [p.name for p in target.parent.iterdir()] == ["record.json"]


def test_tampered_or_truncated_records_are_set_aside(tmp_path, capsys):
    spec_dict = parse_spec(SPEC).as_dict()
    store = RecordStore(tmp_path)
    cells = cells_of(spec_dict)
    paths = [store.write(spec_dict, cell, record_for(spec_dict, cell)) for cell in cells[:3]]
    record = json.loads(paths[0].read_text())
    record["metrics"]["test_error"] = 0.01  # edited by hand: checksum no longer matches
    paths[0].write_text(json.dumps(record))
    paths[1].write_text(paths[1].read_text()[:40])  # truncated
    loaded = store.load(spec_dict)
    assert set(loaded.current) == {cells[2]}
    assert loaded.set_aside == [paths[0].with_name(paths[0].name + ".corrupt"), paths[1].with_name(paths[1].name + ".corrupt")]
    assert all(path.exists() for path in loaded.set_aside) and not paths[0].exists()  # renamed, never deleted
    err = capsys.readouterr().err
    assert str(paths[0]) in err and "set aside" in err


def test_changing_a_learner_option_makes_only_its_records_stale(tmp_path):
    spec_dict = parse_spec(SPEC).as_dict()
    store = RecordStore(tmp_path)
    for cell in cells_of(spec_dict):
        store.write(spec_dict, cell, record_for(spec_dict, cell))
    edited = parse_spec(SPEC.replace("{name: entk_init}", "{name: entk_init, ridge: 0.01}")).as_dict()
    loaded = store.load(edited)
    assert loaded.stale == 4
    assert {cell.learner_id for cell in loaded.current} == {"ntk_infinite"}
    # Renaming the spec or changing its description changes no cell.
    renamed = parse_spec(SPEC.replace("name: store", "name: other\ndescription: same cells")).as_dict()
    assert len(store.load(renamed).current) == 8
