# SPDX-License-Identifier: MIT
"""hetgrad.devices(): the device manager's snapshot, set-aside devices included."""
import pytest

import hetgrad
from conftest import expected_devices

# The keys of a device in hetgrad-probe --json (docs/probe-json.md), less the optional
# selftest and profile objects.
PROBE_KEYS = {
    "id", "index", "platform_index", "platform", "type", "cl_type", "name", "vendor",
    "vendor_id", "available", "driver_version", "opencl_version", "opencl_c_version",
    "extensions", "compute_units", "max_clock_mhz", "global_mem_bytes",
    "global_mem_cache_bytes", "local_mem_bytes", "constant_mem_bytes", "max_alloc_bytes",
    "max_work_group_size", "profiling_resolution_ns", "host_unified_memory",
    "compiler_available", "linker_available", "fp64", "fp16", "pci_bus", "pci_source",
    "uuid", "failed_properties", "selected", "kept", "duplicate_of", "reason",
}


def test_devices_as_dicts():
    devs = hetgrad.devices()
    assert devs, "no OpenCL device at all"
    for i, d in enumerate(devs):
        assert set(d) == PROBE_KEYS
        assert d["index"] == i
        assert d["id"].startswith("hg-") and len(d["id"]) == 19
        assert d["type"] in ("cpu", "gpu", "accelerator", "custom")
        assert isinstance(d["name"], str) and d["name"]
        assert d["reason"]
        assert d["failed_properties"] == []
    want = expected_devices()
    if want:
        for w in want:
            assert any(w in d["name"].lower() for d in devs), (w, [d["name"] for d in devs])
        assert len(devs) == len(want), [d["name"] for d in devs]


def test_set_aside_devices_come_with_their_reason():
    devs = hetgrad.devices(use_environment=False)
    kept = [d for d in devs if d["kept"]]
    aside = [d for d in devs if not d["kept"]]
    ids = {d["id"] for d in devs}
    assert kept
    for d in aside:
        assert "set aside" in d["reason"] or "not selected" in d["reason"], d["reason"]
        if d["duplicate_of"] is not None:
            assert d["duplicate_of"] in ids and d["duplicate_of"] != d["id"]
    if sorted(expected_devices() or []) == ["basic", "pthread"]:
        # POCL's two views of the host CPU: one is kept, the other set aside as its
        # duplicate, and keep_duplicates keeps both
        assert len(kept) == 1 and len(aside) == 1
        assert aside[0]["duplicate_of"] == kept[0]["id"]
        assert "shares the host CPU" in aside[0]["reason"]
        assert all(d["kept"] for d in hetgrad.devices(keep_duplicates=True,
                                                      use_environment=False))
        basic = hetgrad.devices("basic", use_environment=False)
        assert [d["name"] for d in basic if d["kept"]] == [
            d["name"] for d in devs if "basic" in d["name"]]
        assert hetgrad.devices(["basic", "pthread"], use_environment=False)[0]["selected"]


def test_bad_selection_names_the_word():
    with pytest.raises(hetgrad.Error) as e:
        hetgrad.devices("no-such-device")
    assert e.value.status == "HG_BAD_SELECTION"
    assert "no-such-device" in e.value.message
    with pytest.raises(TypeError):
        hetgrad.devices(42)
    with pytest.raises(ValueError, match="NUL"):
        hetgrad.devices("cpu\0gpu")


def test_environment_selection_applies(monkeypatch):
    monkeypatch.setenv("HETGRAD_DEVICES", "no-such-device")
    with pytest.raises(hetgrad.Error):
        hetgrad.devices()
    assert hetgrad.devices(use_environment=False)


def test_log_level(capfd, monkeypatch):
    # the device manager's info messages reach stderr at log_level "info" or with
    # HETGRAD_LOG=info, not by default; a name that is no level is refused
    monkeypatch.delenv("HETGRAD_LOG", raising=False)
    for level, env, shown in ((None, None, False), ("info", None, True),
                              (None, "info", True), ("error", "info", False)):
        if env:
            monkeypatch.setenv("HETGRAD_LOG", env)
        capfd.readouterr()
        assert hetgrad.devices(log_level=level)
        err = capfd.readouterr().err
        assert ("hetgrad: info: " in err) == shown, (level, env, err)
    with pytest.raises(hetgrad.ArgumentError, match="log_level='verbose'"):
        hetgrad.devices(log_level="verbose")
