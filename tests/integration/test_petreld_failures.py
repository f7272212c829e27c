"""Every failure path of create (and of policy changes): the client exits
1 with the daemon's message, and the host is exactly as before: no tap,
FIFO, image file or process was left behind, the state did not change,
an already running unikernel is untouched, and petreld still answers."""

import os
from pathlib import Path

import pytest

import pthelpers as H


@pytest.fixture
def busy(petreld, images, tender):
    """petreld with one unikernel running (when the tender can run one),
    so that failures are checked not to disturb it."""
    pd = petreld
    if tender.scripted:
        pd.ok("create", "keep", images.path("hvt", nets=["service"]),
              "--net", "service:br0", "--arg", "run")
        pd.keep_pid = pd.wait_tender(":keep")[0]
    else:
        pd.keep_pid = None
    return pd


def refused(pd, *args, mentions=()):
    """Runs a command that must fail; checks the host did not change."""
    before = pd.snapshot()
    j = pd.jfail(*args)
    pd.assert_unchanged(before, "petrel " + " ".join(map(str, args)))
    if pd.keep_pid is not None:
        assert H.pid_alive(pd.keep_pid), "the running unikernel was disturbed"
    msg = j["message"].lower()
    if mentions:
        assert any(m.lower() in msg for m in mentions), \
            "message %r names none of %s" % (j["message"], mentions)
    # The text form says the same on stderr.
    return j


# ---------------------------------------------------------------------------
# bad images


def test_not_elf(busy, images):
    img = images.write("garbage.img", b"this is not an ELF file\n" * 100)
    refused(busy, "create", "bad", img)


def test_not_elf_compressed(busy, images):
    img = images.write("garbage2.img", os.urandom(4096))
    refused(busy, "create", "bad", img, "--compress")


def test_empty_image(busy, images):
    img = images.write("empty.img", b"")
    refused(busy, "create", "bad", img)


def test_truncated_image(busy, images):
    data = images.data("hvt")
    img = images.write("trunc.img", data[:100])
    refused(busy, "create", "bad", img)


def test_no_abi_note(busy, images):
    refused(busy, "create", "bad", images.path("hvt", flags=["--no-abi"]),
            mentions=("abi",))


def test_no_manifest(busy, images):
    refused(busy, "create", "bad", images.path("hvt", flags=["--no-manifest"]),
            mentions=("manifest",))


def test_corrupt_manifest(busy, images):
    refused(busy, "create", "bad", images.path("hvt", flags=["--corrupt-manifest"]),
            mentions=("manifest",))


def test_unsupported_target(busy, images):
    data = H.patch_abi_target(images.data("hvt"), 3)  # virtio: no tender
    refused(busy, "create", "bad", images.write("virtio.img", data),
            mentions=("target", "virtio"))


def test_abi_version_mismatch(busy, images):
    # The tenders state ABI version 2.
    refused(busy, "create", "bad", images.path("hvt", abi=1),
            mentions=("abi", "tender", "version"))


# ---------------------------------------------------------------------------
# tenders


def test_missing_tender(busy, images, tender):
    tender.need("spt")
    os.unlink(busy.tender_link("spt"))
    refused(busy, "create", "bad", images.path("spt"),
            mentions=("tender", "solo5-spt"))


def test_tender_without_abi_version_line(busy, images):
    link = busy.tender_link("hvt")
    os.unlink(link)
    Path(link).write_text("#!/bin/sh\necho 'solo5-hvt tender, version v0'\nexit 0\n")
    os.chmod(link, 0o755)
    refused(busy, "create", "bad", images.path("hvt"),
            mentions=("tender", "solo5-hvt", "abi"))


def test_tender_not_executable(busy, images):
    link = busy.tender_link("hvt")
    os.unlink(link)
    Path(link).write_text("not a program\n")
    os.chmod(link, 0o644)
    refused(busy, "create", "bad", images.path("hvt"))


# ---------------------------------------------------------------------------
# manifest against the requested devices


@pytest.mark.parametrize("nets,opts", [
    (["service"], []),                                   # net not given
    ([], ["--net", "br0"]),                              # not in the manifest
    (["service"], ["--net", "other:br0"]),               # other name
    (["service", "mgmt"], ["--net", "service:br0"]),     # one missing
], ids=["missing", "extra", "other-name", "one-of-two"])
def test_manifest_net_mismatch(busy, images, nets, opts):
    refused(busy, "create", "bad", images.path("hvt", nets=nets), *opts,
            mentions=("manifest", "bridge", "net"))


@pytest.mark.parametrize("blocks,opts", [
    (["storage"], []),
    ([], ["--block", "storage"]),
    (["storage"], ["--block", "other:storage"]),
], ids=["missing", "extra", "other-name"])
def test_manifest_block_mismatch(busy, images, blocks, opts):
    refused(busy, "create", "bad", images.path("hvt", blocks=blocks), *opts,
            mentions=("manifest", "block"))


# ---------------------------------------------------------------------------
# host resources


def test_missing_bridge(busy, images):
    refused(busy, "create", "bad", images.path("hvt", nets=["service"]),
            "--net", "service:br9", mentions=("br9",))


def test_bridge_that_is_not_a_bridge(busy, images):
    busy.ns.ip("link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
    refused(busy, "create", "bad", images.path("hvt", nets=["service"]),
            "--net", "service:veth0", mentions=("veth0",))


def test_bridge_deleted_after_start(busy, images):
    """The root policy was discovered at start; a bridge that vanished
    since must still be refused (checked at create time)."""
    busy.ns.del_link("br1")
    refused(busy, "create", "bad", images.path("hvt", nets=["service"]),
            "--net", "service:br1", mentions=("br1",))


def test_cpu_not_on_host(busy, images):
    refused(busy, "create", "bad", images.path("hvt"), "--cpu", "4095")


def test_memory_beyond_host(busy, images):
    refused(busy, "create", "bad", images.path("hvt"), "--mem", "1000000000")


def test_missing_block_device(busy, images):
    refused(busy, "create", "bad", images.path("hvt", blocks=["storage"]),
            "--block", "storage:nodisk", mentions=("nodisk", "block"))


# ---------------------------------------------------------------------------
# policies


@pytest.fixture
def team(busy):
    busy.ok("add-policy", "team:", "--unikernels", "1", "--mem", "64",
            "--cpu", "0", "--bridge", "br0")
    return busy


def test_policy_refuses_count(team, images, tender):
    tender.need_scripted()
    team.ok("create", "team:a", images.path("hvt"), "--arg", "run")
    refused(team, "create", "team:b", images.path("hvt"), "--arg", "run")


def test_policy_refuses_memory(team, images):
    refused(team, "create", "team:a", images.path("hvt"), "--mem", "65",
            mentions=("mem",))


def test_policy_refuses_memory_in_total(busy, images, tender):
    tender.need_scripted()
    busy.ok("add-policy", "team:", "--unikernels", "5", "--mem", "64",
            "--cpu", "0", "--bridge", "br0")
    busy.ok("create", "team:a", images.path("hvt"), "--mem", "40", "--arg", "run")
    refused(busy, "create", "team:b", images.path("hvt"), "--mem", "40",
            mentions=("mem",))


def test_policy_refuses_cpu(team, images):
    refused(team, "create", "team:a", images.path("hvt"), "--cpu", "1",
            mentions=("cpu",))


def test_policy_refuses_bridge(team, images):
    refused(team, "create", "team:a", images.path("hvt", nets=["service"]),
            "--net", "service:br1", mentions=("br1", "bridge"))


def test_policy_of_parent_applies_below(team, images):
    refused(team, "create", "team:sub:a", images.path("hvt"), "--mem", "128")


@pytest.mark.parametrize("opts", [
    ["--unikernels", "2", "--mem", "64", "--cpu", "0"],
    ["--unikernels", "1", "--mem", "65", "--cpu", "0"],
    ["--unikernels", "1", "--mem", "64", "--cpu", "1"],
    ["--unikernels", "1", "--mem", "64", "--cpu", "0", "--bridge", "br1"],
    ["--unikernels", "1", "--mem", "64", "--cpu", "0", "--block", "1"],
], ids=["unikernels", "memory", "cpu", "bridge", "block"])
def test_deeper_policy_exceeding_parent(team, opts):
    before = team.policies_stable()
    refused(team, "add-policy", "team:sub:", *opts)
    assert team.policies_stable() == before


def test_policy_exceeding_host(busy):
    before = busy.policies_stable()
    refused(busy, "add-policy", "team:", "--unikernels", "1", "--mem", "64",
            "--cpu", "4095")
    refused(busy, "add-policy", "team:", "--unikernels", "1", "--mem", "64",
            "--cpu", "0", "--bridge", "br9")
    assert busy.policies_stable() == before


def test_policy_smaller_than_what_runs(busy, images, tender):
    tender.need_scripted()
    busy.ok("add-policy", "team:", "--unikernels", "3", "--mem", "128",
            "--cpu", "0", "--bridge", "br0")
    busy.ok("create", "team:a", images.path("hvt"), "--mem", "32", "--arg", "run")
    busy.ok("create", "team:b", images.path("hvt"), "--mem", "32", "--arg", "run")
    before = busy.policies_stable()
    refused(busy, "replace-policy", "team:", "--unikernels", "1", "--mem", "128",
            "--cpu", "0", "--bridge", "br0")
    refused(busy, "replace-policy", "team:", "--unikernels", "3", "--mem", "32",
            "--cpu", "0", "--bridge", "br0")
    assert busy.policies_stable() == before


def test_parent_policy_smaller_than_child(busy):
    busy.ok("add-policy", "team:", "--unikernels", "3", "--mem", "128",
            "--cpu", "0", "--bridge", "br0")
    busy.ok("add-policy", "team:sub:", "--unikernels", "2", "--mem", "128",
            "--cpu", "0")
    before = busy.policies_stable()
    refused(busy, "replace-policy", "team:", "--unikernels", "3", "--mem", "64",
            "--cpu", "0", "--bridge", "br0")
    assert busy.policies_stable() == before


# ---------------------------------------------------------------------------
# names


def test_duplicate_name(busy, images, tender):
    tender.need_scripted()
    j = refused(busy, "create", "keep", images.path("hvt", nets=["service"]),
                "--net", "service:br0", "--arg", "run")
    assert "already" in j["message"].lower(), j


def test_bad_name_is_a_usage_error(busy, images):
    before = busy.snapshot()
    r = busy.petrel("create", "a::b", images.path("hvt"))
    assert r.rc == 2, r
    r = busy.petrel("create", "-bad", images.path("hvt"))
    assert r.rc == 2, r
    busy.assert_unchanged(before)


def test_unreadable_image_is_a_usage_error(busy):
    before = busy.snapshot()
    r = busy.petrel("create", "x", os.path.join(busy.base, "does-not-exist.img"))
    assert r.rc == 2, r
    busy.assert_unchanged(before)


# ---------------------------------------------------------------------------
# hostile compressed images, sent on the wire directly (the client only
# sends what it compressed itself)


def zlib_bomb(size):
    """A valid zlib stream of `size` zero bytes (about size/1000 bytes)."""
    import zlib
    c = zlib.compressobj(9)
    chunk = bytes(16 << 20)
    parts = []
    left = size
    while left > 0:
        parts.append(c.compress(chunk[:min(left, len(chunk))]))
        left -= len(chunk)
    parts.append(c.flush())
    return b"".join(parts)


@pytest.mark.parametrize("kind", ["bomb", "truncated", "not-zlib"])
def test_hostile_compressed_image(busy, images, kind):
    import zlib
    if kind == "bomb":
        # Inflates beyond any sane image size (petreld's cap is 1 GiB).
        data = zlib_bomb((1 << 30) + (64 << 20))
    elif kind == "truncated":
        data = zlib.compress(images.data("hvt"))[:-20]
    else:
        data = b"\x78\x9c" + os.urandom(2048)
    header = H.wire_header(":bad")
    cfg = H.uk_config_v5(data, compressed=True, args=["run"])
    before = busy.snapshot()
    reply = H.wire_request(busy.sock, H.der_seq(header, H.create_command(cfg)), timeout=120)
    assert H.reply_is_failure(reply, header), reply[:64].hex()
    busy.assert_unchanged(before, "the %s image" % kind)
    if busy.keep_pid is not None:
        assert H.pid_alive(busy.keep_pid)
