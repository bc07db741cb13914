import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


# Exported models take hundreds of megabytes each; a whole run would otherwise leave gigabytes
# behind in the temporary directory. Each test's directory goes when the test ends.
@pytest.fixture
def tmp_path(tmp_path):
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.fixture(scope="module")
def module_tmp_path(tmp_path_factory, request):
    """A directory shared by one test module's tests, removed when the module ends."""
    path = tmp_path_factory.mktemp(request.module.__name__)
    yield path
    shutil.rmtree(path, ignore_errors=True)
