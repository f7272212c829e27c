"""How petreld writes what a create needs (docs/state.md, "A create on
disk"): the image a tender runs is one file with the stored copy when the
image is not compressed and both directories share a file system (a hard
link), a copy otherwise; the stored copy is the image as received; nothing
is left under a staging name; and "created unikernel" is only said once
the state holding the unikernel is written: a create whose state cannot
be written is undone.

Needs root (the fixtures run petreld in a network namespace)."""

import os
import zlib

import pytest

import pthelpers as H


def stored_path(pd, name):
    return os.path.join(pd.dbdir, "images", name + ".img")


def staging_leftovers(pd):
    return sorted(f for f in H.files_under(pd.base)
                  if f.endswith(".img.new") or ".tmp." in f)


def create_and_wait(pd, tender, name, *args):
    pd.ok("create", name, *args, "--arg", "run")
    pd.wait_tender(":" + name)


def test_plain_image_is_linked_into_the_run_dir(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    img = images.path("hvt")
    create_and_wait(pd, tender, "plain", img)
    run, stored = os.stat(pd.image_path(":plain")), os.stat(stored_path(pd, ":plain"))
    assert (run.st_dev, run.st_ino) == (stored.st_dev, stored.st_ino), \
        "the run copy of an uncompressed image is not the stored file"
    assert open(stored_path(pd, ":plain"), "rb").read() == open(img, "rb").read()
    assert staging_leftovers(pd) == []
    # A restart (no new image) links the stored image again.
    pd.ok("restart", "plain")
    pd.wait_tender(":plain")
    run = os.stat(pd.image_path(":plain"))
    assert run.st_ino == os.stat(stored_path(pd, ":plain")).st_ino
    assert staging_leftovers(pd) == []
    pd.ok("destroy", "plain")
    assert not os.path.exists(stored_path(pd, ":plain"))
    assert not os.path.exists(pd.image_path(":plain"))


def test_compressed_image_is_stored_as_received(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    img = images.path("hvt")
    create_and_wait(pd, tender, "zipped", img, "--compress")
    plain = open(img, "rb").read()
    stored = open(stored_path(pd, ":zipped"), "rb").read()
    assert stored != plain and zlib.decompress(stored) == plain
    # The tender runs the inflated image: another file.
    assert open(pd.image_path(":zipped"), "rb").read() == plain
    assert os.stat(pd.image_path(":zipped")).st_ino != \
        os.stat(stored_path(pd, ":zipped")).st_ino
    assert staging_leftovers(pd) == []
    pd.ok("destroy", "zipped")


def test_run_dir_on_another_file_system_gets_a_copy(petreld_factory, images,
                                                     tender):
    tender.need_scripted()
    # <tmpdir> on a tmpfs (as /run is), <dbdir> on the disk: no hard link.
    pd = petreld_factory(tmpdir_size_kb=4096)
    img = images.path("hvt")
    create_and_wait(pd, tender, "copied", img)
    assert open(pd.image_path(":copied"), "rb").read() == open(img, "rb").read()
    assert os.stat(pd.image_path(":copied")).st_dev != \
        os.stat(stored_path(pd, ":copied")).st_dev
    pd.ok("restart", "copied")
    pd.wait_tender(":copied")
    assert open(pd.image_path(":copied"), "rb").read() == open(img, "rb").read()
    assert staging_leftovers(pd) == []
    pd.ok("destroy", "copied")


def test_a_leftover_staging_file_does_not_matter(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    # As a crash of petreld between staging and launch would leave them.
    os.makedirs(os.path.join(pd.dbdir, "images"), exist_ok=True)
    for path in (stored_path(pd, ":left") + ".new",
                 pd.image_path(":left") + ".new"):
        with open(path, "wb") as f:
            f.write(b"stale")
    create_and_wait(pd, tender, "left", images.path("hvt"))
    assert open(stored_path(pd, ":left"), "rb").read() == \
        open(images.path("hvt"), "rb").read()
    assert staging_leftovers(pd) == []
    pd.ok("destroy", "left")


def test_create_is_undone_when_the_state_cannot_be_written(petreld, images,
                                                           tender):
    tender.need_scripted()
    pd = petreld
    state = os.path.join(pd.dbdir, "state")
    if os.path.exists(state):
        os.unlink(state)
    # A directory where the state file goes: its rename fails.
    os.mkdir(state)
    try:
        before = pd.snapshot()
        j = pd.jfail("create", "doomed", images.path("hvt"), "--arg", "run")
        assert "state" in j["message"] and "stopped" in j["message"], j
        pd.assert_unchanged(before, "a create whose state failed")
        assert not os.path.exists(stored_path(pd, ":doomed"))
        assert ":doomed" not in pd.info()
    finally:
        os.rmdir(state)
    # With a state file possible again, the same create succeeds.
    create_and_wait(pd, tender, "doomed", images.path("hvt"))
    assert ":doomed" in pd.info()
    pd.ok("destroy", "doomed")
