import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The IR tests run many tiny forwards: with two threads they spend their time in thread
    hand-offs (test_ops_v2: 24 s against 2.3 s on the busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
