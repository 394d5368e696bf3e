"""The invariant classifier, and its hypercolumn form against the concatenation it replaces."""

import pytest
import torch

from gaugemesh.models.head import classify_hypercolumn, invariant_classifier
from gaugemesh.testing import randomize_parameters


@pytest.mark.parametrize("hidden", [0, 6], ids=["linear", "hidden"])
def test_the_hypercolumn_equals_the_classifier_of_the_gathered_concatenation(hidden):
    g = torch.Generator().manual_seed(0)
    widths, sizes = [3, 4, 5], [40, 11, 3]
    finest = torch.randn(sizes[0], widths[0], dtype=torch.float64, generator=g)
    coarse = [torch.randn(n, w, dtype=torch.float64, generator=g) for n, w in zip(sizes[1:], widths[1:])]
    indices = [torch.randint(0, n, (sizes[0],), generator=g) for n in sizes[1:]]
    classifier = randomize_parameters(invariant_classifier(sum(widths), hidden, 7).double(),
                                      generator=torch.Generator().manual_seed(1))
    reference = classifier(torch.cat([finest, *(v[i] for v, i in zip(coarse, indices))], -1))
    torch.testing.assert_close(classify_hypercolumn(classifier, finest, coarse, indices), reference)


def test_the_hypercolumn_gradients_match_the_concatenation():
    g = torch.Generator().manual_seed(2)
    finest = torch.randn(30, 2, dtype=torch.float64, generator=g, requires_grad=True)
    coarse = [torch.randn(8, 3, dtype=torch.float64, generator=g, requires_grad=True)]
    indices = [torch.randint(0, 8, (30,), generator=g)]
    classifier = invariant_classifier(5, 4, 3).double()
    fast = torch.autograd.grad(classify_hypercolumn(classifier, finest, coarse, indices).square().sum(),
                               [finest, coarse[0], *classifier.parameters()])
    slow = torch.autograd.grad(classifier(torch.cat([finest, coarse[0][indices[0]]], -1)).square().sum(),
                               [finest, coarse[0], *classifier.parameters()])
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b)


def test_without_coarse_levels_it_is_the_classifier():
    x = torch.randn(9, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    classifier = invariant_classifier(4, 5, 2).double()
    torch.testing.assert_close(classify_hypercolumn(classifier, x, [], []), classifier(x))


def test_widths_that_do_not_add_up_are_refused():
    classifier = invariant_classifier(5, 4, 3)
    with pytest.raises(ValueError, match=r"widths \[2, 2\]"):
        classify_hypercolumn(classifier, torch.zeros(6, 2), [torch.zeros(3, 2)], [torch.zeros(6, dtype=torch.long)])
    with pytest.raises(ValueError, match="2 index maps"):
        classify_hypercolumn(classifier, torch.zeros(6, 2), [torch.zeros(3, 3)], [torch.zeros(6, dtype=torch.long)] * 2)
