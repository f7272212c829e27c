"""A path is compared as a path everywhere names are matched (issue 9
item 12, and the same defect found by the review of petrel-stats in
`info`): `a:b:` covers `a:b:x`, never the unikernel `a:b`, which is the
label b of the path `a:` and belongs to `a:`'s tenant."""


def test_info_of_a_path_does_not_list_the_unikernel_of_its_spelling(
        petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    img = images.path("hvt")
    for n in ("a:b", "a:b:x"):
        pd.ok("create", n, img, "--arg", "run")
        pd.wait_tender(n)
    # Reply names are relative to the request's path (§4.3).
    assert set(pd.info("a:b:")) == {":x"}
    assert set(pd.info("a:")) == {":b", "b:x"}
    assert len(pd.info("a:b")) == 1
    for n in ("a:b", "a:b:x"):
        pd.ok("destroy", n)
