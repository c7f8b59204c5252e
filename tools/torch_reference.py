"""The paper's models and gradient estimators written independently in plain PyTorch, timed
per training step (forward, backward, Adam), for tools/bench-vs-torch.sh to put beside
`r2g2 bench models`. Runs with PyTorch 1.13 (Debian's python3-torch) and 2.x.

usage: /usr/bin/python3 tools/torch_reference.py [--models mlp,vgg11,vae1,vae2,vae3]
       [--estimators LIST] [--batch 80] [--vgg-batch 16] [--steps 10] [--warmup 2]
       [--device cpu|cuda] [--threads N] [--width-divisor 1] [--check]

Prints one JSON object per line: first the setting, then one row per (model, estimator).
--check instead trains each pair 20 steps on its fixed batch and fails unless the loss falls.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

DEFAULT_ESTIMATORS = {"mlp": "rt,lrt,flipout,r2g2", "vgg11": "rt,r2g2"}
VAE_ESTIMATORS = "rt,r2g2,r2g2-paper"
MODELS = ("mlp", "vgg11", "vae1", "vae2", "vae3")


class Gaussian(torch.nn.Module):
    """Mean-field Gaussian q = N(mu, softplus(rho)^2) with prior N(0, 1)."""

    def __init__(self, shape, fan_in, device):
        super().__init__()
        self.mu = torch.nn.Parameter(torch.randn(shape, device=device) * math.sqrt(2.0 / fan_in))
        self.rho = torch.nn.Parameter(torch.full(shape, -5.0, device=device))

    def sigma(self):
        return F.softplus(self.rho)

    def sample(self):
        return self.mu + self.sigma() * torch.randn_like(self.mu)

    def kl(self):
        s = self.sigma()
        return (-torch.log(s) + 0.5 * (s * s + self.mu * self.mu) - 0.5).sum()


def cg(apply_k, rhs, iterations, converged, x0=None):
    """Conjugate gradients on every system of the batch at once (systems along dim 0, unknowns
    along the last dim); stops when `converged(residual)` holds for all or after `iterations`."""
    x = torch.zeros_like(rhs) if x0 is None else x0.clone()
    r = rhs - apply_k(x) if x0 is not None else rhs.clone()
    p = r.clone()
    rr = (r * r).sum(-1, keepdim=True)
    used = 0
    for used in range(1, iterations + 1):
        if bool(converged(r)):
            used -= 1
            break
        kp = apply_k(p)
        alpha = rr / (p * kp).sum(-1, keepdim=True).clamp_min(1e-30)
        x = x + alpha * p
        r = r - alpha * kp
        rr_new = (r * r).sum(-1, keepdim=True)
        p = r + (rr_new / rr.clamp_min(1e-30)) * p
        rr = rr_new
    return x, used


def relative_residual(rhs, tol):
    scale = rhs.norm(dim=-1, keepdim=True).clamp_min(1e-30)
    return lambda r: (r.norm(dim=-1, keepdim=True) <= tol * scale).all()


class BayesLinear(torch.nn.Module):
    def __init__(self, d_in, d_out, estimator, device):
        super().__init__()
        self.weight = Gaussian((d_out, d_in), d_in, device)
        self.bias = Gaussian((d_out,), d_in, device)
        self.estimator = estimator
        self.cg_iterations = 0

    def kl(self):
        return self.weight.kl() + self.bias.kl()

    def forward(self, x):
        mu, sigma = self.weight.mu, self.weight.sigma()
        bias = self.bias.sample()
        if self.estimator == "rt":
            return F.linear(x, self.weight.sample(), bias)
        if self.estimator == "lrt":
            var = F.linear(x * x, sigma * sigma)
            return F.linear(x, mu, bias) + torch.sqrt(var.clamp_min(1e-30)) * torch.randn_like(var)
        if self.estimator == "flipout":
            r = torch.randint(0, 2, x.shape, device=x.device) * 2.0 - 1.0
            s = torch.randint(0, 2, (x.shape[0], mu.shape[0]), device=x.device) * 2.0 - 1.0
            delta = sigma * torch.randn_like(mu)
            return F.linear(x, mu, bias) + s * F.linear(x * r, delta)
        if self.estimator == "r2g2":
            return self.r2g2(x, mu, sigma) + bias
        raise ValueError(f"linear layer: unknown estimator {self.estimator}")

    def r2g2(self, x, mu, sigma):
        # h sampled LRT-style; per output unit c the paper solves K_c beta_c = h_c - X mu_c with
        # K_c = X diag(sigma_c^2) X^T (B x B), eps*_c = sigma_c X^T beta_c, then writes the
        # output as stopgrad(h - h*) + h* with h* = X (mu + sigma eps*)^T.
        with torch.no_grad():
            xd, s2 = x.detach(), (sigma * sigma).detach()
            mean = F.linear(xd, mu.detach())
            var = F.linear(xd * xd, s2).clamp_min(1e-30)
            h = mean + torch.sqrt(var) * torch.randn_like(var)
            rhs = (h - mean).t().contiguous()  # [out, B]
            apply_k = lambda v: (s2 * (v @ xd)) @ xd.t()  # noqa: E731
            beta, self.cg_iterations = cg(apply_k, rhs, min(xd.shape), relative_residual(rhs, 1e-5))
            eps_star = sigma.detach() * (beta @ xd)
        h_star = F.linear(x, mu + sigma * eps_star)
        return (h - h_star).detach() + h_star


class BayesConv(torch.nn.Module):
    """3x3 conv, padding 1, Gaussian kernels, deterministic bias; rt or r2g2."""

    def __init__(self, c_in, c_out, estimator, device):
        super().__init__()
        self.weight = Gaussian((c_out, c_in, 3, 3), c_in * 9, device)
        self.bias = torch.nn.Parameter(torch.zeros(c_out, device=device))
        self.estimator = estimator
        self.cg_iterations = 0

    def kl(self):
        return self.weight.kl()

    def forward(self, x):
        if self.estimator == "rt":
            return F.conv2d(x, self.weight.sample(), self.bias, padding=1)
        if self.estimator != "r2g2":
            raise ValueError(f"conv layer: unknown estimator {self.estimator}")
        mu, sigma = self.weight.mu, self.weight.sigma()
        n, c_out, hgt, wid = x.shape[0], mu.shape[0], x.shape[2], x.shape[3]
        with torch.no_grad():
            # One system per (image, output channel): K_nc = X_n diag(sigma_c^2) X_n^T, P x P.
            sd = sigma.detach()
            eps = torch.randn_like(sd)
            h = F.conv2d(x.detach(), mu.detach() + sd * eps, padding=1)
            rhs = F.conv2d(x.detach(), sd * eps, padding=1).reshape(n, c_out, -1)  # [N, C, P]
            cols = F.unfold(x.detach(), 3, padding=1).transpose(1, 2)  # [N, P, D]
            s2 = (sd * sd).reshape(c_out, -1)  # [C, D]

            def apply_k(v):  # K_nc v = X_n (sigma_c^2 * (X_n^T v)), batched over (n, c)
                return torch.einsum("ncd,npd->ncp", s2 * torch.einsum("ncp,npd->ncd", v, cols), cols)

            beta, self.cg_iterations = cg(apply_k, rhs, min(cols.shape[1], cols.shape[2]),
                                          relative_residual(rhs, 1e-5))
            eps_star = sd.reshape(c_out, -1) * torch.einsum("ncp,npd->ncd", beta, cols)  # [N, C, D]
        cols_g = F.unfold(x, 3, padding=1).transpose(1, 2)
        w_star = mu.reshape(c_out, -1) + sigma.reshape(c_out, -1) * eps_star  # one kernel per image
        h_star = torch.einsum("npd,ncd->ncp", cols_g, w_star).reshape(n, c_out, hgt, wid)
        h_star = h_star + self.bias.reshape(1, -1, 1, 1)
        return (h + self.bias.detach().reshape(1, -1, 1, 1) - h_star).detach() + h_star


class BayesMLP(torch.nn.Module):
    train_size = 60000

    def __init__(self, estimator, divisor, device):
        super().__init__()
        hidden = max(1, 1024 // divisor)
        sizes = [784, hidden, hidden, 10]
        self.layers = torch.nn.ModuleList(
            BayesLinear(a, b, estimator, device) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i + 1 < len(self.layers):
                x = F.relu(x)
        return x


class BayesVGG(torch.nn.Module):
    train_size = 50000
    LAYERS = (64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0)  # 0: 2x2 max-pool

    def __init__(self, estimator, divisor, device):
        super().__init__()
        self.plan, convs, c_in = [], [], 3
        for width in self.LAYERS:
            if width == 0:
                self.plan.append("M")
                continue
            width = max(1, width // divisor)
            convs.append(BayesConv(c_in, width, "rt" if len(convs) < 4 else estimator, device))
            self.plan.append(len(convs) - 1)
            c_in = width
        self.convs = torch.nn.ModuleList(convs)
        self.classifier = BayesLinear(c_in, 10, "lrt", device)

    def forward(self, x):
        for item in self.plan:
            x = F.max_pool2d(x, 2) if item == "M" else F.relu(self.convs[item](x))
        return self.classifier(x.flatten(1))


def classifier_loss(model, x, y):
    """Mini-batch ELBO divided by N: mean NLL + KL / N."""
    kl = sum(m.kl() for m in model.modules() if isinstance(m, (BayesLinear, BayesConv)))
    return F.cross_entropy(model(x), y) + kl / model.train_size


class Conditional(torch.nn.Module):
    """u -> tanh(hidden) -> tanh(hidden) -> (mean, sigma = softplus(.))."""

    def __init__(self, d_in, hidden, d_out, device):
        super().__init__()
        self.h1 = torch.nn.Linear(d_in, hidden, device=device)
        self.h2 = torch.nn.Linear(hidden, hidden, device=device)
        self.mean = torch.nn.Linear(hidden, d_out, device=device)
        self.scale = torch.nn.Linear(hidden, d_out, device=device)

    def forward(self, u):
        a = torch.tanh(self.h2(torch.tanh(self.h1(u))))
        return self.mean(a), F.softplus(self.scale(a)).clamp_min(1e-30)


def gaussian_log_density(v, mean, sigma):
    return (-0.5 * ((v - mean) / sigma) ** 2 - torch.log(sigma) - 0.5 * math.log(2 * math.pi)).sum(-1)


class VAE(torch.nn.Module):
    def __init__(self, layers, estimator, divisor, device, latent=50):
        super().__init__()
        hidden = max(1, 200 // divisor)
        self.encoders = torch.nn.ModuleList(
            Conditional(784 if l == 0 else latent, hidden, latent, device) for l in range(layers))
        self.priors = torch.nn.ModuleList(Conditional(latent, hidden, latent, device) for _ in range(layers - 1))
        self.dec_in = torch.nn.Linear(latent, hidden, device=device)
        self.dec_hidden = torch.nn.Linear(hidden, hidden, device=device)
        self.dec_out = torch.nn.Linear(hidden, 784, device=device)
        self.estimator = estimator
        self.cg_iterations = 0

    def decoder_input(self, mean, sigma, eps):
        v1 = mean + sigma * eps
        if self.estimator == "rt":
            return self.dec_in(v1)
        w = self.dec_in.weight
        with torch.no_grad():
            wd, s2 = w.detach(), (sigma * sigma).detach()
            rhs = (sigma.detach() * eps) @ wd.t()  # h - W m - b, [N, m]
            apply_k = lambda v: (s2 * (v @ wd)) @ wd.t()  # noqa: E731  K_n = W diag(s_n^2) W^T
            rank_bound = min(w.shape)
            if self.estimator == "r2g2-paper":  # start at the rhs, absolute residual 1e-3, <= 10 iterations
                beta, self.cg_iterations = cg(apply_k, rhs, min(10, rank_bound), lambda r: r.abs().max() < 1e-3,
                                              x0=rhs)
            elif self.estimator == "r2g2":
                beta, self.cg_iterations = cg(apply_k, rhs, rank_bound, relative_residual(rhs, 1e-6))
            else:
                raise ValueError(f"VAE: unknown estimator {self.estimator}")
            eps_star = sigma.detach() * (beta @ wd)
        h = self.dec_in(v1)
        h_star = self.dec_in(mean + sigma * eps_star)
        return (h - h_star).detach() + h_star

    def loss(self, x):
        log_q, log_p, u, samples = 0.0, 0.0, x, []
        for l, enc in enumerate(self.encoders):
            mean, sigma = enc(u)
            eps = torch.randn_like(mean)
            v = mean + sigma * eps
            log_q = log_q + gaussian_log_density(v, mean, sigma)
            if l == 0:
                first = (mean, sigma, eps)
            samples.append(v)
            u = v
        log_p = gaussian_log_density(samples[-1], torch.zeros_like(samples[-1]), torch.ones_like(samples[-1]))
        for l, prior in enumerate(self.priors):
            mean, sigma = prior(samples[l + 1])
            log_p = log_p + gaussian_log_density(samples[l], mean, sigma)
        a = torch.tanh(self.dec_hidden(torch.tanh(self.decoder_input(*first))))
        log_px = -F.binary_cross_entropy_with_logits(self.dec_out(a), x, reduction="none").sum(-1)
        return -(log_px + log_p - log_q).mean()


def build(model, estimator, args, device):
    """The model, its fixed synthetic batch and its loss function."""
    gen = torch.Generator().manual_seed(1)
    pixels = lambda *shape: torch.rand(*shape, generator=gen).to(device)  # noqa: E731
    if model == "mlp":
        net = BayesMLP(estimator, args.width_divisor, device)
        x, y = pixels(args.batch, 784), torch.randint(0, 10, (args.batch,), generator=gen).to(device)
        return net, args.batch, lambda: classifier_loss(net, x, y), 1e-4
    if model == "vgg11":
        net = BayesVGG(estimator, args.width_divisor, device)
        x = pixels(args.vgg_batch, 3, 32, 32)
        y = torch.randint(0, 10, (args.vgg_batch,), generator=gen).to(device)
        return net, args.vgg_batch, lambda: classifier_loss(net, x, y), 1e-4
    net = VAE(int(model[3]), estimator, args.width_divisor, device)
    x = torch.bernoulli(torch.rand(args.batch, 784, generator=gen), generator=gen).to(device)
    return net, args.batch, lambda: net.loss(x), 1e-3


def supported(model, estimator):
    known = DEFAULT_ESTIMATORS.get(model, VAE_ESTIMATORS).split(",")
    return estimator in known


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_pair(model, estimator, args, device):
    torch.manual_seed(1)
    net, batch, loss_fn, lr = build(model, estimator, args, device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        opt.step()
        return loss.detach()

    if args.check:
        losses = [float(step()) for _ in range(20)]
        ok = math.isfinite(losses[-1]) and statistics.mean(losses[-3:]) < losses[0]
        return {"model": model, "estimator": estimator, "first_loss": losses[0], "last_loss": losses[-1],
                "decreased": ok}
    for _ in range(args.warmup):
        step()
    sync(device)
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        sync(device)
        times.append(1e3 * (time.perf_counter() - t0))
    iterations = [m.cg_iterations for m in net.modules() if getattr(m, "cg_iterations", 0)]
    row = {"model": model, "estimator": estimator, "batch": batch, "median_ms": statistics.median(times),
           "min_ms": min(times)}
    if iterations:
        row["cg_iterations_last_step"] = iterations
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--estimators", default="")
    p.add_argument("--batch", type=int, default=80)
    p.add_argument("--vgg-batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--width-divisor", type=int, default=1)
    p.add_argument("--check", action="store_true")
    args = p.parse_args()
    for name, value in (("--batch", args.batch), ("--vgg-batch", args.vgg_batch), ("--steps", args.steps),
                        ("--threads", args.threads), ("--width-divisor", args.width_divisor)):
        if value < 1:
            p.error(f"{name} must be positive, got {value}")
    if args.warmup < 0:
        p.error(f"--warmup must not be negative, got {args.warmup}")
    models = [m for m in args.models.split(",") if m]
    for m in models:
        if m not in MODELS:
            p.error(f"unknown model '{m}' in --models; known: {', '.join(MODELS)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: this PyTorch sees no CUDA device")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(json.dumps({"framework": "pytorch", "version": torch.__version__, "device": args.device,
                      "threads": torch.get_num_threads(), "steps": args.steps, "warmup": args.warmup,
                      "width_divisor": args.width_divisor}), flush=True)
    failed = False
    for model in models:
        names = (args.estimators or DEFAULT_ESTIMATORS.get(model, VAE_ESTIMATORS)).split(",")
        for estimator in filter(None, names):
            if not supported(model, estimator):
                print(f"torch_reference: skipping {model} with {estimator} (not implemented here)", file=sys.stderr)
                continue
            row = run_pair(model, estimator, args, device)
            failed |= args.check and not row["decreased"]
            print(json.dumps(row), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
