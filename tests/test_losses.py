"Each loss has its hand-computed value and gradient, its invariances, clear errors, and agrees with sentence-transformers."
import importlib, math
import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck
from kdnb.core import InputError
from kdnb.losses import (LOSSES, get_loss, ScoreLoss, margin_mse, constant_margin_mse, infonce, inbatch_infonce, kl_distill,
                         pointwise_bce, pointwise_mse, distill_ranknet, adr_mse, approx_ranks, average_ranks, flops, l1_reg,
                         reg_weight, splade_loss)

S = torch.tensor([[3., 1., 0.]])  # student: positive, negative 1, negative 2
T = torch.tensor([[5., 2., 2.]])  # teacher: sure of the positive, ties the negatives
L2 = lambda x: math.log(1 + math.exp(-x))
SCORE_LOSSES = [n for n in LOSSES if not get_loss(n).needs and not get_loss(n).inbatch]   # (B, 1+k) scores alone; in-batch losses take (B, B(1+k)), SPLADE's and vector_mse also a student's vectors
TEACHER_LOSSES = [n for n in SCORE_LOSSES if get_loss(n).needs_teacher]

@pytest.mark.parametrize('value,expected', [
    (lambda: pointwise_mse(S, T), 3.),
    (lambda: margin_mse(S, T), 0.5),
    (lambda: margin_mse(S, T, pairs='all'), 2/3),
    (lambda: constant_margin_mse(S), 2.5),
    (lambda: constant_margin_mse(S, margin=0.), 6.5),
    (lambda: infonce(torch.zeros(1, 2)), math.log(2)),
    (lambda: infonce(S), math.log(1 + math.exp(-2) + math.exp(-3))),
    (lambda: infonce(S, temperature=2.), math.log(1 + math.exp(-1) + math.exp(-1.5))),
    (lambda: inbatch_infonce(torch.tensor([[1., 0.], [0., 1.]])), L2(1.)),
    (lambda: kl_distill(torch.zeros(1, 2), torch.tensor([[math.log(3), 0.]])), 0.75*math.log(3) - math.log(2)),
    (lambda: kl_distill(torch.zeros(1, 2), torch.tensor([[2*math.log(3), 0.]]), temperature=2.), 4*(0.75*math.log(3) - math.log(2))),
    (lambda: kl_distill(torch.zeros(1, 2), torch.tensor([[2*math.log(3), 0.]]), temperature=2., scale=False), 0.75*math.log(3) - math.log(2)),
    (lambda: pointwise_bce(torch.tensor([[1., -1.]])), L2(1.)),
    (lambda: pointwise_bce(torch.zeros(1, 2), torch.tensor([[5., -3.]])), math.log(2)),
    (lambda: pointwise_bce(torch.tensor([[2., 0.]]), torch.tensor([[0.5, 1.]]), soft=False), (0.5*L2(2.) + 0.5*L2(-2.) + math.log(2))/2),
    (lambda: distill_ranknet(S, T), (L2(2.) + L2(3.))/2),
    (lambda: distill_ranknet(S, T, sigma=2.), (L2(4.) + L2(6.))/2),
    (lambda: distill_ranknet(S, T, log2=True), (L2(2.) + L2(3.))/2/math.log(2)),
    (lambda: adr_mse(torch.zeros(1, 2), torch.tensor([[1., 0.]])), (0.25 + 0.25/math.log2(3))/2),
    (lambda: flops(torch.tensor([[1., 0.], [3., 2.]])), 5.),
    (lambda: flops(torch.tensor([[-1., 0.], [3., -2.]])), 5.),
    (lambda: l1_reg(torch.tensor([[1., 0.], [3., -2.]])), 3.),
])
def test_hand_values(value, expected):
    assert float(value()) == pytest.approx(expected, abs=1e-6)

def test_ranks():
    assert torch.equal(average_ranks(T), torch.tensor([[1., 2.5, 2.5]]))
    assert torch.equal(average_ranks(torch.tensor([[1., 1., 1., 0.]])), torch.tensor([[2., 2., 2., 4.]]))
    torch.testing.assert_close(approx_ranks(S, 0.01), torch.tensor([[1., 2., 3.]]))
    # the tiny example by hand: approx ranks 1+s(-2)+s(-3), 1+s(2)+s(-1), 1+s(3)+s(1)
    sg = lambda x: 1/(1 + math.exp(-x))
    ar = [1+sg(-2)+sg(-3), 1+sg(2)+sg(-1), 1+sg(3)+sg(1)]
    expected = sum((r - a)**2/math.log2(r + 1) for r, a in zip([1., 2.5, 2.5], ar))/3
    assert float(adr_mse(S, T)) == pytest.approx(expected, abs=1e-6)

def test_reg_weight_and_splade():
    assert [reg_weight(1., t, 10) for t in (0, 5, 10, 20)] == [0., 0.25, 1., 1.]
    assert reg_weight(0.3, 0, 0) == 0.3
    torch.manual_seed(0)
    q, d = torch.rand(2, 5), torch.rand(4, 5)
    s, t = torch.randn(2, 2), torch.randn(2, 2)
    got, parts = splade_loss(s, t, q, d, lambda_q=0.2, lambda_d=0.1, step=3, warmup_steps=6, return_parts=True)
    torch.testing.assert_close(got, margin_mse(s, t) + 0.05*l1_reg(q) + 0.025*flops(d))
    assert parts['lambda_q'] == pytest.approx(0.05) and parts['lambda_d'] == pytest.approx(0.025)
    torch.testing.assert_close(splade_loss(s, t, q, d, distill='kl', temperature=3., reg_d='l1', lambda_q=1., lambda_d=2.),
                               kl_distill(s, t, 3.) + l1_reg(q) + 2*l1_reg(d))

@pytest.mark.parametrize('name', SCORE_LOSSES)
def test_gradcheck(name):
    torch.manual_seed(1)
    s = torch.randn(3, 4, dtype=torch.double, requires_grad=True)
    t = torch.randn(3, 4, dtype=torch.double)
    f = get_loss(name)
    assert gradcheck(lambda x: f(x, t), (s,))

def test_gradcheck_regularisers():
    torch.manual_seed(2)
    w = (torch.rand(5, 7, dtype=torch.double) + 0.1).requires_grad_()
    s = torch.randn(3, 4, dtype=torch.double, requires_grad=True)
    t = torch.randn(3, 4, dtype=torch.double)
    assert gradcheck(flops, (w,)) and gradcheck(l1_reg, (w,))
    assert gradcheck(lambda x, y: splade_loss(x, t, y[:3], y, lambda_q=0.3, lambda_d=0.2, step=1, warmup_steps=2), (s, w))

@pytest.mark.parametrize('pairs', ['pos', 'all'])
def test_margin_mse_shift_invariance(pairs):
    torch.manual_seed(3)
    s, t, c = torch.randn(6, 5, dtype=torch.double), torch.randn(6, 5, dtype=torch.double), 10*torch.randn(6, 1, dtype=torch.double)
    base = margin_mse(s, t, pairs=pairs)
    torch.testing.assert_close(margin_mse(s, t + c, pairs=pairs), base)
    torch.testing.assert_close(margin_mse(s + c, t, pairs=pairs), base)
    torch.testing.assert_close(kl_distill(s + c, t - c, 2.), kl_distill(s, t, 2.))
    assert abs(float(pointwise_mse(s, t + c) - pointwise_mse(s, t))) > 1  # pointwise MSE is not invariant

def test_kl_zero_and_infonce_is_cross_entropy():
    torch.manual_seed(4)
    s = torch.randn(5, 6, dtype=torch.double)
    for T_ in (0.5, 1., 3.):
        assert float(kl_distill(s, s.clone(), T_)) == pytest.approx(0., abs=1e-12)
        torch.testing.assert_close(infonce(s, T_), F.cross_entropy(s/T_, torch.zeros(5, dtype=torch.long)))
    assert float(kl_distill(s, s.flip(1))) > 0
    # in-batch, with the hard-negative rows embedded: targets pick each query's own positive
    torch.testing.assert_close(inbatch_infonce(s, targets=torch.zeros(5, dtype=torch.long)), infonce(s))

@pytest.mark.parametrize('name', TEACHER_LOSSES + ['bce'])
def test_teacher_errors(name):
    f = get_loss(name)
    with pytest.raises(InputError, match=r'student scores have shape \(1, 3\) but teacher scores have shape \(1, 4\)'): f(S, torch.zeros(1, 4))
    with pytest.raises(InputError, match=r'teacher scores contain NaN \(row 1\)'): f(torch.zeros(2, 3), torch.tensor([[0., 1., 2.], [0., float('nan'), 1.]]))
    with pytest.raises(InputError, match=r'needs at least one negative, but scores have shape \(2, 1\) \(k=0\)'): f(torch.zeros(2, 1), torch.zeros(2, 1))

@pytest.mark.parametrize('name', TEACHER_LOSSES)
def test_missing_teacher(name):
    with pytest.raises(InputError, match='needs teacher scores'): get_loss(name)(S)

def test_other_errors():
    with pytest.raises(InputError, match=r'needs at least one negative'): infonce(torch.zeros(3, 1))
    with pytest.raises(InputError, match=r'needs at least one negative'): constant_margin_mse(torch.zeros(3, 1))
    with pytest.raises(InputError, match=r'shape \(3,\)'): margin_mse(torch.zeros(3), torch.zeros(3))
    with pytest.raises(InputError, match="pairs must be 'pos' or 'all'"): margin_mse(S, T, pairs='x')
    with pytest.raises(InputError, match='temperature must be positive'): kl_distill(S, T, 0.)
    with pytest.raises(InputError, match='fewer passages than queries'): inbatch_infonce(torch.zeros(3, 2))
    with pytest.raises(InputError, match=r'targets have shape \(2,\), expected \(3,\)'): inbatch_infonce(torch.zeros(3, 4), targets=torch.tensor([0, 1]))
    with pytest.raises(InputError, match=r'labels must lie in \[0, 1\]'): pointwise_bce(S, T, soft=False)
    with pytest.raises(InputError, match=r'\(N, vocab\)'): flops(torch.zeros(2, 3, 4))
    with pytest.raises(InputError, match="reg_q must be 'flops' or 'l1'"): splade_loss(S, T, torch.ones(1, 2), torch.ones(3, 2), reg_q='l0')

def test_registry():
    assert set(LOSSES) == {'margin_mse', 'constant_margin_mse', 'infonce', 'inbatch_infonce', 'kl', 'bce', 'mse', 'ranknet', 'adr_mse', 'splade', 'margin_mse_inbatch', 'vector_mse'}
    with pytest.raises(InputError, match=r"unknown loss 'listnet'; valid names: adr_mse, bce, constant_margin_mse, inbatch_infonce, infonce, kl, margin_mse, margin_mse_inbatch, mse, ranknet, splade, vector_mse"):
        get_loss('listnet')
    with pytest.raises(InputError, match=r"unknown option 'sigmaa'; it takes: sigma, log2"): get_loss('ranknet', sigmaa=2.)
    f = get_loss('margin_mse', pairs='all')
    assert isinstance(f, torch.nn.Module) and isinstance(f, ScoreLoss) and 'pairs' in repr(f)
    torch.testing.assert_close(f(S, T), margin_mse(S, T, pairs='all'))
    torch.testing.assert_close(get_loss('constant_margin_mse')(S, T), constant_margin_mse(S))  # the teacher is ignored
    assert get_loss('splade').needs_teacher and not get_loss('splade', distill='infonce').needs_teacher

def test_margin_mse_inbatch():
    from kdnb.losses import margin_mse_inbatch, own_group, inbatch_infonce
    torch.manual_seed(4)
    q, docs = torch.randn(3, 8, dtype=torch.double), torch.randn(4, 3, 8, dtype=torch.double)   # 3 queries, groups of 1+3
    S = q @ torch.cat(list(docs)).T                                  # (3, 12), positives first
    own = torch.einsum('bd,cbd->bc', q, docs)                         # (3, 4)
    t = torch.randn(3, 4, dtype=torch.double)
    torch.testing.assert_close(own_group(S), own)
    torch.testing.assert_close(margin_mse_inbatch(S, t, weight=0.3), margin_mse(own, t) + 0.3 * inbatch_infonce(S))
    assert get_loss('margin_mse_inbatch').inbatch and get_loss('margin_mse_inbatch').needs_teacher
    assert get_loss('inbatch_infonce').inbatch and not get_loss('inbatch_infonce').needs_teacher   # no teacher: its targets are the positives' columns
    x = S.clone().requires_grad_()
    assert gradcheck(lambda y: get_loss('margin_mse_inbatch')(y, t), (x,))
    with pytest.raises(InputError, match=r'not B\(1\+k\) for B = 3'): own_group(S[:, :11])
    with pytest.raises(InputError, match=r'student scores have shape \(3, 4\) but teacher scores have shape \(3, 5\)'): margin_mse_inbatch(S, torch.zeros(3, 5))
    assert get_loss('margin_mse_inbatch')(S.bfloat16(), t.float()).dtype == torch.float32

def test_half_precision_is_computed_in_float32():
    s, t = torch.randn(4, 5).bfloat16(), torch.randn(4, 5)
    for n in SCORE_LOSSES: assert get_loss(n)(s, t).dtype == torch.float32

# ---- agreement with sentence-transformers (test-only dependency; kdnb never imports it) ----

@pytest.fixture(scope='module')
def st():
    return pytest.importorskip('sentence_transformers')

def _rand(B, n, seed, dtype=torch.double):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, n, generator=g, dtype=dtype) * 3, torch.randn(B, n, generator=g, dtype=dtype) * 3

def _as_embeddings(s):
    "Columns of `s` as 1-d 'embeddings' whose pairwise dot product with a query of ones is the score."
    return [torch.ones(len(s), 1, dtype=s.dtype)] + [s[:, i:i+1] for i in range(s.shape[1])]

@pytest.mark.parametrize('k', [1, 4])
def test_margin_mse_matches_st(st, k):
    from sentence_transformers.sentence_transformer.losses import MarginMSELoss
    s, t = _rand(5, 1+k, seed=k)
    ref = MarginMSELoss(model=None).compute_loss_from_embeddings(_as_embeddings(s), t)
    torch.testing.assert_close(margin_mse(s, t), ref, atol=1e-6, rtol=1e-6)
    ref2 = MarginMSELoss(model=None).compute_loss_from_embeddings(_as_embeddings(s), t[:, :1] - t[:, 1:])  # labels as margins
    torch.testing.assert_close(margin_mse(s, t), ref2, atol=1e-6, rtol=1e-6)

@pytest.mark.parametrize('temperature', [0.5, 1., 2., 7.])
def test_kl_matches_st(st, temperature):
    from sentence_transformers.sentence_transformer.losses import DistillKLDivLoss
    s, t = _rand(6, 5, seed=10)
    ref = DistillKLDivLoss(model=None, temperature=temperature).compute_loss_from_embeddings(_as_embeddings(s), t)
    torch.testing.assert_close(kl_distill(s, t, temperature), ref, atol=1e-6, rtol=1e-6)

@pytest.mark.parametrize('k,scale', [(0, 20.), (2, 20.), (3, 1.)])
def test_inbatch_infonce_matches_mnrl(st, k, scale):
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.util import cos_sim
    g = torch.Generator().manual_seed(20 + k)
    B = 4
    q, docs = torch.randn(B, 8, generator=g, dtype=torch.double), [torch.randn(B, 8, generator=g, dtype=torch.double) for _ in range(1+k)]
    ref = MultipleNegativesRankingLoss(model=None, scale=scale).compute_loss_from_embeddings([q, *docs], None)
    scores = cos_sim(q, torch.cat(docs))  # (B, B(1+k)): the positives first, then each column of negatives
    torch.testing.assert_close(inbatch_infonce(scores, temperature=1/scale), ref, atol=1e-6, rtol=1e-6)

def test_flops_matches_st(st):
    from sentence_transformers.sparse_encoder.losses import FlopsLoss
    w = torch.relu(torch.randn(7, 30, generator=torch.Generator().manual_seed(30), dtype=torch.double))
    torch.testing.assert_close(flops(w), FlopsLoss(model=None).compute_loss_from_embeddings(w), atol=1e-6, rtol=1e-6)

def test_splade_matches_st(st, monkeypatch):
    from sentence_transformers.sparse_encoder.losses import SpladeLoss, SparseMarginMSELoss
    splade_mod = importlib.import_module('sentence_transformers.sparse_encoder.losses.splade')
    g = torch.Generator().manual_seed(40)
    B, k, V = 3, 2, 25
    q = torch.relu(torch.randn(B, V, generator=g, dtype=torch.double))
    docs = [torch.relu(torch.randn(B, V, generator=g, dtype=torch.double)) for _ in range(1+k)]
    t = torch.randn(B, 1+k, generator=g, dtype=torch.double)
    monkeypatch.setattr(splade_mod, 'embed_columns', lambda model, features, **kw: [q, *docs])
    ref = SpladeLoss(model=None, loss=SparseMarginMSELoss(model=None), document_regularizer_weight=0.03, query_regularizer_weight=0.05)([None]*(2+k), t)
    s = torch.stack([(q*d).sum(-1) for d in docs], 1)
    ours = splade_loss(s, t, q, torch.cat(docs), lambda_q=0.05, lambda_d=0.03, reg_q="flops")   # sentence-transformers regularises queries with FLOPS too
    torch.testing.assert_close(ours, sum(ref.values()), atol=1e-6, rtol=1e-6)

class FakeCrossEncoder:
    "Stands in for a CrossEncoder: 'scores' each (query b, passage i) pair with the fixed s[b, i]."
    num_labels, device = 1, torch.device('cpu')
    def __init__(self, s): self.s = s
    def preprocess(self, pairs, prompt=None, task=None): return {'pairs': pairs}
    def __call__(self, tokens): return {'scores': torch.stack([self.s[int(q), int(d)] for q, d in tokens['pairs']])}

def _ce_call(loss_cls, s, t, **kw):
    "Run a sentence-transformers cross-encoder listwise loss on fixed scores (it computes in float32)."
    B, n = s.shape
    inputs = [[str(b) for b in range(B)], [[str(i) for i in range(n)] for _ in range(B)]]
    return loss_cls(FakeCrossEncoder(s), **kw)(inputs, list(t))

@pytest.mark.parametrize('sigma,log2', [(1., False), (1., True), (0.5, True), (2., False)])
def test_ranknet_matches_st(st, sigma, log2):
    from sentence_transformers.cross_encoder.losses import RankNetLoss
    s, t = _rand(4, 6, seed=50, dtype=torch.float32)
    t[0, 2] = t[0, 3]  # a teacher tie: no pair
    ref = _ce_call(RankNetLoss, s, t, sigma=sigma, reduction_log='binary' if log2 else 'natural')
    torch.testing.assert_close(distill_ranknet(s, t, sigma=sigma, log2=log2), ref, atol=1e-6, rtol=1e-6)

@pytest.mark.parametrize('temperature', [1., 0.5, 4.])
def test_adr_mse_matches_st(st, temperature):
    from sentence_transformers.cross_encoder.losses import ADRMSELoss
    s, t = _rand(4, 6, seed=60, dtype=torch.float32)
    t[1, 1] = t[1, 4] = t[1, 5]  # ties share the average rank
    ref = _ce_call(ADRMSELoss, s, t, alpha=1/temperature)
    torch.testing.assert_close(adr_mse(s, t, temperature), ref, atol=1e-6, rtol=1e-6)
