"""greedybench.nn: OMP-Net / IHT-Net unroll the soft kernels exactly; LISTA, ALISTA, PUDLE-ISTA."""

import math

import pytest
import torch

import greedybench as gb
from greedybench._validation import InvalidParameterError, ShapeError
from greedybench.nn import (ALISTA, LISTA, PUDLEISTA, IHTNet, OMPNet, alista_weight_matrix, coherence,
                            soft_threshold)




def _problem(m=16, N=48, s=4, B=6, complex_=True, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    if complex_:
        A = torch.complex(torch.randn(m, N, generator=g, dtype=dtype), torch.randn(m, N, generator=g, dtype=dtype))
    else:
        A = torch.randn(m, N, generator=g, dtype=dtype)
    A = A / torch.linalg.vector_norm(A, dim=0)
    X = torch.zeros(B, N, dtype=dtype)
    for b in range(B):
        X[b, torch.randperm(N, generator=g)[:s]] = torch.randn(s, generator=g, dtype=dtype)
    Y = X.to(A.dtype) @ A.mT
    return A, Y, X


@pytest.mark.parametrize("complex_", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_untrained_ompnet_is_soft_omp(complex_, dtype):
    A, Y, _ = _problem(complex_=complex_, dtype=dtype)
    net = OMPNet(A, 4, tau=1e-3)
    ones = torch.ones(A.shape[1], dtype=dtype)
    # same kernel, same code path: bitwise equal (the kernel takes its graph-recording path when
    # the weights require grad, so compare like with like)
    out = net(Y)
    assert out.shape == (Y.shape[0], A.shape[1]) and out.dtype == A.dtype
    assert torch.equal(out, gb.soft_omp(A, Y, 4, tau=1e-3, weights=ones.clone().requires_grad_()))
    with torch.no_grad():
        out = net(Y)
    ref = gb.soft_omp(A, Y, 4, tau=1e-3, weights=ones)
    assert torch.equal(out, ref)
    # weights=None differs only by the rounding of |1| / tau in the folded statistic
    assert torch.allclose(out, gb.soft_omp(A, Y, 4, tau=1e-3), atol=1e-3 if dtype == torch.float32 else 1e-8)


@pytest.mark.parametrize("complex_", [True, False])
def test_untrained_ihtnet_is_soft_iht(complex_):
    A, Y, _ = _problem(complex_=complex_)
    net = IHTNet(A, 4, 12, tau=1e-3, step=0.5)
    ones = torch.ones(A.shape[1], dtype=torch.float64)
    ref = gb.soft_iht(A, Y, 4, tau=1e-3, step=0.5, n_iter=12, weights=ones)
    with torch.no_grad():
        assert torch.equal(net(Y), ref)
    ref_g = gb.soft_iht(A, Y, 4, tau=1e-3, step=0.5, n_iter=12, weights=ones.clone().requires_grad_())
    assert torch.equal(net(Y), ref_g)


def test_nets_gradients_and_repr():
    A, Y, X = _problem()
    for net in (OMPNet(A, 4), IHTNet(A, 4, 6, train_tau=True, train_step=True)):
        loss = (net(Y).real - X).pow(2).sum(-1).mean()
        loss.backward()
        for name, p in net.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
        r = repr(net)
        assert "N=48" in r and "tied=True" in r
    assert OMPNet(A, 3).weights.shape == (48,)
    assert torch.equal(OMPNet(A, 3).weights, torch.ones(48, dtype=torch.float64))
    sd = OMPNet(A, 3).state_dict()
    assert set(sd) == {"A", "weights"}


def test_nets_bad_input():
    A, Y, _ = _problem()
    with pytest.raises(ShapeError, match=r"per-iteration weights must have shape \(n_iter, N\)"):
        gb.functional.soft._omp_kernel(A, Y[:, None], 3, 1e-3, torch.ones(2, 48), per_iter=True)
    with pytest.raises(ShapeError, match=r"\(n_iter, N\) = \(3, 48\)"):
        gb.functional.soft._iht_kernel(A, Y[:, None], 4, 1e-3, 0.5, 3, torch.ones(48), per_iter=True)
    with pytest.raises(ShapeError):
        OMPNet(A[None], 3)
    with pytest.raises(InvalidParameterError):
        OMPNet(A, 0)
    with pytest.raises(InvalidParameterError):
        IHTNet(A, 4, 3, tau=-1.0)
    with pytest.raises(ShapeError):
        OMPNet(A, 3)(Y[:, :5])


def test_soft_threshold_complex_and_real():
    v = torch.tensor([3 + 4j, 0.3 + 0.4j, 0j], dtype=torch.complex128, requires_grad=True)
    out = soft_threshold(v, 1.0)
    assert torch.allclose(out.detach(), torch.tensor([(3 + 4j) * 0.8, 0, 0], dtype=torch.complex128))
    out.abs().sum().backward()
    assert torch.isfinite(torch.view_as_real(v.grad)).all()
    r = soft_threshold(torch.tensor([-2.0, 0.5, 1.5]), 1.0)
    assert torch.equal(r, torch.tensor([-1.0, 0.0, 0.5]))


def _ista(A, Y, K, lam, step):
    x = torch.zeros(Y.shape[0], A.shape[1], dtype=A.dtype)
    for _ in range(K):
        x = soft_threshold(x + step * (Y - x @ A.mT) @ A.conj(), step * lam)
    return x


@pytest.mark.parametrize("complex_", [True, False])
def test_untrained_lista_and_pudle_ista_are_ista(complex_):
    A, Y, _ = _problem(complex_=complex_)
    L = float(torch.linalg.matrix_norm(A, ord=2)) ** 2
    ref = _ista(A, Y, 5, 0.05, 1 / L)
    assert torch.allclose(LISTA(A, 5, lam=0.05)(Y), ref, atol=1e-10)
    assert torch.allclose(PUDLEISTA(A, 5, lam=0.05)(Y), ref, atol=1e-10)
    assert LISTA(A, 5).S.shape == (5, 48, 48) and LISTA(A, 5, tied=True).S.shape == (1, 48, 48)
    p = PUDLEISTA(A, 5, learn_step=True)
    assert {n for n, _ in p.named_parameters()} == {"b", "alpha"}
    assert {n for n, _ in PUDLEISTA(A, 5).named_parameters()} == {"b"}


def test_alista_weight_matrix_real():
    g = torch.Generator().manual_seed(1)
    A = torch.randn(30, 60, generator=g, dtype=torch.float64)
    A = A / torch.linalg.vector_norm(A, dim=0)
    W = alista_weight_matrix(A)
    assert torch.allclose(torch.diagonal(W.mT @ A), torch.ones(60, dtype=torch.float64), atol=1e-12)
    mu_A, fro_A = coherence(A, A)
    mu_W, fro_W = coherence(W, A)
    assert fro_W < fro_A and mu_W < mu_A
    # projected gradient reaches the closed-form minimiser G^{-1} a_j / (a_j^T G^{-1} a_j)
    Wc = torch.linalg.solve(A @ A.mT, A)
    Wc = Wc / (Wc * A).sum(0)
    assert torch.allclose(W, Wc, atol=1e-4)


def test_alista_weight_matrix_complex_and_tight_frame():
    g = torch.Generator().manual_seed(2)
    A = torch.complex(torch.randn(20, 50, generator=g, dtype=torch.float64),
                      torch.randn(20, 50, generator=g, dtype=torch.float64))
    A = A / torch.linalg.vector_norm(A, dim=0)
    W = alista_weight_matrix(A)
    assert torch.allclose(torch.diagonal(W.mH @ A), torch.ones(50, dtype=torch.complex128), atol=1e-12)
    assert coherence(W, A)[1] < coherence(A, A)[1]
    # partial DFT (tight frame, unit columns): W~ = A
    N, m = 32, 8
    k = torch.arange(m, dtype=torch.float64)
    F = torch.exp(-2j * math.pi * torch.outer(k, torch.arange(N, dtype=torch.float64)) / N) / math.sqrt(m)
    assert torch.allclose(alista_weight_matrix(F), F, atol=1e-10)


def test_alista_forward_and_support_selection():
    A, Y, X = _problem()
    net = ALISTA(A, 6)
    out = net(Y)
    assert out.shape == X.shape and torch.isfinite(out).all()
    assert {n for n, _ in net.named_parameters()} == {"gamma", "theta"}
    ss = ALISTA(A, 6, support_selection=(1.2, 13.0))
    loss = (ss(Y).real - X).pow(2).sum(-1).mean()
    loss.backward()
    assert torch.isfinite(ss.gamma.grad).all() and torch.isfinite(ss.theta.grad).all()
    with pytest.raises(ShapeError):
        ALISTA(A, 3, W=A[:, :5])


# --------------------------------------------------------------------------------------------
# untied (per-layer) weights
# --------------------------------------------------------------------------------------------
def _nets(A, tied):
    return OMPNet(A, 4, tau=1e-3, tied=tied), IHTNet(A, 4, 6, tau=1e-3, step=0.5, tied=tied)


@pytest.mark.parametrize("grad", [False, True])
def test_untied_nets_with_equal_layers_are_the_tied_nets(grad):
    """Every layer holding the same w gives the tied net with that w, bit for bit."""
    A, Y, _ = _problem()
    w = 0.5 + torch.rand(48, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    for tied_net, untied_net in zip(_nets(A, True), _nets(A, False)):
        assert untied_net.weights.shape == (untied_net.n_layers, 48)
        with torch.no_grad():
            tied_net.weights.copy_(w)
            untied_net.weights.copy_(w.expand(untied_net.n_layers, 48))
        with torch.set_grad_enabled(grad):
            assert torch.equal(tied_net(Y), untied_net(Y))
        assert torch.equal(untied_net.learned_support(5), tied_net.learned_support(5))


def _np_weighted_omp_per_layer(A, y, W):
    """Plain numpy OMP whose iteration n selects argmax |W[n] * A^H r| (independent reference)."""
    import numpy as np
    A, y, W = A.numpy(), y.numpy(), W.numpy()
    S, r = [], y.copy()
    for w in W:
        S.append(int(np.argmax(np.abs(w * (A.conj().T @ r)))))
        z = np.linalg.lstsq(A[:, S], y, rcond=None)[0]
        r = y - A[:, S] @ z
    x = np.zeros(A.shape[1], dtype=A.dtype)
    x[S] = z
    return S, x


def _np_weighted_iht_per_layer(A, y, s, step, W):
    import numpy as np
    A, y, W = A.numpy(), y.numpy(), W.numpy()
    x = np.zeros(A.shape[1], dtype=A.dtype)
    for w in W:
        u = x + step * (A.conj().T @ (y - A @ x))
        keep = np.argsort(-np.abs(w * u), kind="stable")[:s]
        x = np.zeros_like(u)
        x[keep] = u[keep]
    return x


def test_untied_ompnet_selects_with_each_layers_weights():
    """At tau -> 0 layer n picks argmax |W[n] * A^H r|: a layer that boosts one index forces it."""
    A, Y, _ = _problem(complex_=False)
    g = torch.Generator().manual_seed(5)
    W = 0.5 + torch.rand(4, 48, generator=g, dtype=torch.float64)
    W[1, 7] = W[2, 30] = 1e6                                        # force atoms 7 and 30 in layers 2, 3
    net = OMPNet(A, 4, tau=1e-12, tied=False)
    with torch.no_grad():
        net.weights.copy_(W)
        out = net(Y)
    for b in range(Y.shape[0]):
        S, x_ref = _np_weighted_omp_per_layer(A, Y[b], W)
        assert S[1] == 7 and S[2] == 30
        torch.testing.assert_close(out[b], torch.from_numpy(x_ref), rtol=0, atol=1e-10)


def test_untied_ihtnet_selects_with_each_layers_weights():
    A, Y, _ = _problem(complex_=False)
    W = 0.5 + torch.rand(6, 48, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    net = IHTNet(A, 4, 6, tau=1e-12, step=0.5, tied=False)
    with torch.no_grad():
        net.weights.copy_(W)
        out = net(Y)
    for b in range(Y.shape[0]):
        ref = _np_weighted_iht_per_layer(A, Y[b], 4, 0.5, W)
        torch.testing.assert_close(out[b], torch.from_numpy(ref), rtol=0, atol=1e-10)


def test_untied_nets_train_every_layer():
    A, Y, X = _problem()
    for net in _nets(A, False):
        loss = (net(Y).real - X).pow(2).sum(-1).mean()
        loss.backward()
        g = net.weights.grad
        assert g.shape == (net.n_layers, 48) and torch.isfinite(g).all()
        assert (g.abs().sum(1) > 0).all(), "every layer's weights get a gradient"
        assert "tied=False" in repr(net)


# --------------------------------------------------------------------------------------------
# LISTA-CP / LISTA-CPSS and per-layer outputs
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("complex_", [True, False])
def test_untrained_lista_cp_is_ista(complex_):
    from greedybench.nn import LISTACP, LISTACPSS
    A, Y, _ = _problem(complex_=complex_)
    L = float(torch.linalg.matrix_norm(A, ord=2)) ** 2
    ref = _ista(A, Y, 5, 0.05, 1 / L)
    net = LISTACP(A, 5, lam=0.05)
    assert torch.allclose(net(Y), ref, atol=1e-10)
    assert net.W.shape == (5, 16, 48) and net.theta.shape == (5,)
    assert LISTACP(A, 5, tied=True).W.shape == (1, 16, 48)
    assert {n for n, _ in net.named_parameters()} == {"W", "theta"}
    # support selection with p = 0 is plain soft thresholding
    assert torch.allclose(LISTACPSS(A, 5, lam=0.05, support_selection=(0.0, 0.0))(Y), ref, atol=1e-10)
    assert LISTACPSS(A, 5).support_selection == (1.2, 13.0)
    with pytest.raises(InvalidParameterError):
        LISTACP(A, 5, support_selection=(1.2, 130.0))


def test_lista_cpss_passes_the_top_entries_unshrunk():
    """One layer from x_0 = 0: v = W^T y; the top ceil(p N) entries above theta keep v, the rest
    are soft-thresholded (independent reference with numpy-style indexing)."""
    from greedybench.nn import LISTACPSS
    A, Y, _ = _problem(complex_=False)
    net = LISTACPSS(A, 1, lam=0.3, support_selection=(10.0, 10.0))          # ceil(0.1 * 48) = 5 entries
    v = Y @ net.W[0].detach()
    theta = float(net.theta[0].detach())
    ref = torch.sign(v) * torch.clamp(v.abs() - theta, min=0)
    for b in range(v.shape[0]):
        top = torch.argsort(v[b].abs(), descending=True)[:5]
        top = top[v[b, top].abs() > theta]
        ref[b, top] = v[b, top]
    with torch.no_grad():
        assert torch.allclose(net(Y), ref, atol=1e-12)
    out = net(Y)
    (out - 1).pow(2).sum().backward()
    assert torch.isfinite(net.W.grad).all() and net.W.grad.abs().sum() > 0


def test_layer_outputs_are_the_shallower_nets():
    """layer_outputs(model)[:, k-1] is the output of the same net truncated to k layers (checked
    against an independently built k-layer net / kernel call), and the last slice is model(y)."""
    from greedybench.nn import LISTACP, LISTACPSS, layer_outputs
    A, Y, _ = _problem(complex_=False)
    K = 5
    torch.manual_seed(0)
    nets = [LISTA(A, K), LISTACP(A, K), LISTACPSS(A, K), ALISTA(A, K, support_selection=(1.2, 13.0)),
            PUDLEISTA(A, K, learn_step=True)]
    for net in nets:
        with torch.no_grad():                                             # make the layers differ
            for p in net.parameters():
                p.mul_(1 + 0.1 * torch.rand_like(p))
        P = layer_outputs(net, Y)
        assert P.shape == (Y.shape[0], K, A.shape[1])
        assert torch.equal(P[:, -1], net(Y))
        short = type(net)(A, 3, **({"W": net.W} if isinstance(net, ALISTA) else {}))
        if isinstance(net, ALISTA):
            short.support_selection = net.support_selection
        sd = {k: (v[:3] if v.dim() >= 1 and v.shape[0] == K else v) for k, v in net.state_dict().items()}
        if isinstance(net, LISTA):
            sd["S"] = net.S[:3].detach()
        short.load_state_dict(sd, strict=False)
        torch.testing.assert_close(P[:, 2], short(Y), rtol=0, atol=1e-12)
    omp_net, iht_net = OMPNet(A, 4, tau=1e-3), IHTNet(A, 4, 6, tau=1e-3, step=0.5)
    with torch.no_grad():
        Po, Pi = layer_outputs(omp_net, Y), layer_outputs(iht_net, Y)
    assert Po.shape == (Y.shape[0], 4, 48) and Pi.shape == (Y.shape[0], 6, 48)
    ones = torch.ones(48, dtype=torch.float64)
    torch.testing.assert_close(Po[:, 1], gb.soft_omp(A, Y, 2, tau=1e-3, weights=ones), rtol=0, atol=1e-10)
    torch.testing.assert_close(Pi[:, 2], gb.soft_iht(A, Y, 4, tau=1e-3, step=0.5, n_iter=3, weights=ones),
                               rtol=0, atol=1e-12)
    with pytest.raises(InvalidParameterError):
        layer_outputs(torch.nn.Linear(3, 3), Y)
