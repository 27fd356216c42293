"""The storage handle: one object for a URI and the options that reach it."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from genesis_core import catalog
from genesis_core.io.storage import Location

NO_RETRIES = {"retries": {"max_attempts": 1}, "connect_timeout": 1}
SECRET = {"key": "AKIA-visible-nowhere", "client_kwargs": {"endpoint_url": "http://127.0.0.1:1"}}


def test_options_never_print_and_do_not_change_identity() -> None:
    where = Location("s3://bucket/store.zarr", SECRET)
    assert "AKIA" not in repr(where) and "AKIA" not in str(where)
    assert where == Location("s3://bucket/store.zarr")  # the same data, however reached
    assert len({where, Location("s3://bucket/store.zarr")}) == 1


def test_derived_locations_keep_the_options() -> None:
    where = Location("s3://bucket/root", SECRET)
    child = where.join("manifests", "000001.json")
    assert child.uri == "s3://bucket/root/manifests/000001.json"
    assert child.options == SECRET and where.at("s3://bucket/other").options == SECRET
    assert child.name == "000001.json" and child.remote


def test_a_plain_path_or_uri_is_a_handle_without_options(tmp_path: Path) -> None:
    assert Location.of(tmp_path).uri == str(tmp_path)
    assert Location.of(tmp_path).options == {} and not Location.of(tmp_path).remote
    where = Location("s3://b/k", SECRET)
    assert Location.of(where) is where


def test_a_handle_survives_pickling_with_its_options() -> None:
    """Dask ships handles to workers: the options must travel with the URI."""
    back = pickle.loads(pickle.dumps(Location("s3://b/k", SECRET)))
    assert back.uri == "s3://b/k" and back.options == SECRET


@pytest.mark.integration
def test_the_options_are_what_reaches_the_data(s3_env) -> None:
    """The handle's endpoint is used: written and read through it, refused through another."""
    s3_env.mkdir("located")
    opts = {"client_kwargs": {"endpoint_url": s3_env.client_kwargs["endpoint_url"]}}
    where = Location("s3://located/catalog.parquet", opts)
    catalog.save(catalog.empty(), where)
    assert s3_env.exists("located/catalog.parquet") and catalog.load(where).empty
    dead = {"endpoint_url": "http://127.0.0.1:9"}
    elsewhere = Location(where.uri, {"client_kwargs": dead, "config_kwargs": NO_RETRIES})
    with pytest.raises(Exception, match="127.0.0.1:9"):  # botocore: could not connect
        catalog.load(elsewhere)


def test_atomic_write_replaces_whole(tmp_path: Path) -> None:
    where = Location.of(tmp_path / "a" / "result.json")
    where.write_bytes_atomic(b"old")
    where.write_bytes_atomic(b"new")
    assert where.read_bytes() == b"new" and where.exists()
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["result.json"]  # no temporaries


def test_two_writers_of_one_file_each_leave_a_whole_file(tmp_path: Path) -> None:
    """Two workers caching the same scan write the same name at once: each writes its
    own temporary file, so the result is one whole version, never the two interleaved."""
    import threading

    from genesis_core.atomic import write_local_atomic

    dest, both_half_done = tmp_path / "cache" / "scan.raw", threading.Barrier(2)

    def writer(byte: bytes) -> None:
        def write(f) -> None:
            f.write(byte * 1000)
            both_half_done.wait(timeout=10)
            f.write(byte * 1000)

        write_local_atomic(dest, write)

    threads = [threading.Thread(target=writer, args=(b,)) for b in (b"a", b"b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert dest.read_bytes() in (b"a" * 2000, b"b" * 2000)
    assert [p.name for p in dest.parent.iterdir()] == ["scan.raw"]  # no temporaries left


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    from genesis_core.atomic import write_local_atomic

    dest = write_local_atomic(tmp_path / "result.json", lambda f: f.write(b"old"))

    def broken(f) -> None:
        f.write(b"new, half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_local_atomic(dest, broken)
    assert dest.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["result.json"]
