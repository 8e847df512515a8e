import clearance


def test_public_api_is_exactly_all() -> None:
    public = {name for name in dir(clearance) if not name.startswith("_")}
    modules = {
        "catalog",
        "config",
        "errors",
        "media",
        "scan",
        "fingerprint",
        "index",
        "match",
        "policy",
        "cli",
    }
    assert public - modules - set(clearance.__all__) == set()
    for name in clearance.__all__:
        assert hasattr(clearance, name)


def test_errors_have_stable_codes() -> None:
    assert clearance.CorruptMediaError("x").code == "corrupt_media"
    assert issubclass(clearance.LimitExceededError, clearance.InputError)
    assert issubclass(clearance.ConflictError, clearance.CatalogError)
