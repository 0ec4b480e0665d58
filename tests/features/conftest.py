import pytest


@pytest.fixture
def fixtures_wiki(prepared_wikipedia):
    """A features-only dataset (no image files), prepared from a tiny Wikipedia-style release."""
    return prepared_wikipedia(n_train=20, n_test=8, n_cat=2, dim_i=6, dim_t=3, n_val=2)
