"""The image page refuses a weights upload whose unpickling would run code: message shown, code never run."""

import pytest

from tests.unit.test_hostile_files import evil_weights


@pytest.mark.parametrize("how", ["torch.save", "bare pickle"])
def test_code_running_weights_upload_is_refused_and_never_runs(at, tmp_path, how):
    marker = tmp_path / "marker"
    data = evil_weights(tmp_path / "evil.pth", marker, how).read_bytes()
    at.selectbox(key="model_source").set_value("torchvision").run()
    at.selectbox(key="arch:torchvision").set_value("resnet18").run()
    at.file_uploader(key="weights:torchvision").set_value(("evil.pth", data, "application/octet-stream")).run()
    assert not at.exception
    assert len(at.error) == 1 and "never unpickles" in at.error[0].value, [e.value for e in at.error]
    assert not marker.exists()
    at.selectbox(key="model_source").set_value("embedded").run()  # the session keeps working
    assert not at.error and not at.exception
