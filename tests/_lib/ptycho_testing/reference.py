"""Independent NumPy/SciPy reference of the original PtychoPINN physics (written from ORIGINAL_PHYSICS.md).

Nothing here imports ptycho_core. Translation, reassembly, extraction, diffraction and stitching follow
Appendix A of the design notes (a reference verified against the original to <= 2.4e-7); the probe and the
smoothing use SciPy's own window and filter routines.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage
import scipy.signal.windows


# ----------------------------------------------------------------------------------------------- geometry
def translate(img, t):
    """img (n,H,W,ch) real/complex; t (m,2) rows [dx,dy]; out(y,x) = img(y-dy, x-dx), bilinear,
    per-corner zero fill; translation for image i is t[i % m]."""
    if np.iscomplexobj(img):
        return translate(img.real, t) + 1j * translate(img.imag, t)
    img = img.astype(np.float32)
    n, H, W, ch = img.shape
    t = np.asarray(t, np.float32)[np.arange(n) % len(t)]
    yy, xx = np.meshgrid(np.arange(H, dtype=np.float32), np.arange(W, dtype=np.float32), indexing="ij")
    sx = (xx[None] - t[:, 0, None, None]).astype(np.float32)
    sy = (yy[None] - t[:, 1, None, None]).astype(np.float32)
    x0, y0 = np.floor(sx), np.floor(sy)
    x1, y1 = x0 + 1, y0 + 1

    def g(xi, yi):
        ok = (xi >= 0) & (xi <= W - 1) & (yi >= 0) & (yi <= H - 1)
        xc = np.clip(xi, 0, W - 1).astype(int)
        yc = np.clip(yi, 0, H - 1).astype(int)
        return img[np.arange(n)[:, None, None], yc, xc, :] * ok[..., None]

    wx, wy = (sx - x0)[..., None], (sy - y0)[..., None]
    out = (1 - wx) * (1 - wy) * g(x0, y0) + wx * (1 - wy) * g(x1, y0) + (1 - wx) * wy * g(x0, y1) + wx * wy * g(x1, y1)
    return out.astype(np.float32)


def channel_to_flat(x):
    B, H, W, C = x.shape
    return np.transpose(x, (0, 3, 1, 2)).reshape(B * C, H, W, 1)


def flat_to_channel(x, C):
    n, H, W, _ = x.shape
    return np.transpose(x.reshape(n // C, C, H, W), (0, 2, 3, 1))


def flatten_offsets(o):
    B, _, _, C = o.shape
    return np.transpose(o, (0, 3, 1, 2)).reshape(B * C, 2)


def to_grid(x, g):
    return x.reshape(-1, g, g, x.shape[1], x.shape[2], 1)


def grid_to_channel(grid):
    B, g1, g2, H, W, _ = grid.shape
    return np.transpose(grid, (0, 3, 4, 1, 2, 5)).reshape(B, H, W, g1 * g2)


def pad_to(x, P):
    p = (P - x.shape[1]) // 2
    return np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))


def trim(x, N):
    c = (x.shape[1] - N) // 2
    return x[:, c : x.shape[1] - c, c : x.shape[2] - c, :]


def center_mask(N, C=1):
    m = np.zeros((N, N, C), np.float32)
    m[N // 4 : N // 4 + N // 2, N // 4 : N // 4 + N // 2] = 1
    return m


def reassemble_layer(obj, off, P):
    """ReassemblePatchesLayer, per sample (valid for any B*C here)."""
    B, N, _, C = obj.shape
    o = flatten_offsets(off).astype(np.float32)
    o = o - o.mean(axis=0, keepdims=True)
    R = lambda v: flat_to_channel(translate(pad_to(channel_to_flat(v), P), -o), C).sum(3, keepdims=True)
    cm = np.broadcast_to(center_mask(N, C)[None], (B, N, N, C)).astype(np.float32)
    norm = R(cm) + np.float32(0.001)
    return R(obj.real) / norm + 1j * (R(obj.imag) / norm)


def extract(padded, off, N):
    C = off.shape[3]
    return trim(translate(channel_to_flat(np.repeat(padded, C, axis=3)), flatten_offsets(off)), N)


def center_channels(channels, off):
    C = channels.shape[3]
    return flat_to_channel(translate(channel_to_flat(channels), -flatten_offsets(off)), C)


# ----------------------------------------------------------------------------------------------- diffraction
def pad_and_diffract(psi):
    """(n,h,w,1) complex -> amplitude (n,h,w,1): sqrt(fftshift(|fft2|^2/(h*w)))."""
    h, w = psi.shape[1:3]
    F = np.fft.fft2(psi[..., 0].astype(np.complex64))
    return np.sqrt(np.fft.fftshift((F.real**2 + F.imag**2) / (h * w), axes=(-2, -1)))[..., None]


# ----------------------------------------------------------------------------------------------- stitching
def _sequential_mean(g):
    acc = np.zeros(g.shape[1], np.float32)
    for row in g:
        acc = (acc + row).astype(np.float32)
    return (acc / np.float32(len(g))).astype(np.float32)


def shift_and_sum(obj, goff, M=10):
    """obj (n,N,N,1) complex, goff: n [x, y] pairs. Full-canvas translation of every patch (slow, exact)."""
    N = obj.shape[1]
    crop = obj[:, N // 2 - M // 2 : N // 2 + M // 2, N // 2 - M // 2 : N // 2 + M // 2]
    g = np.asarray(goff).reshape(-1, 2).astype(np.float32)
    adj = (g - _sequential_mean(g)).astype(np.float32)
    pad = int(np.ceil(np.abs(adj).max()))
    pad += pad % 2
    x = np.pad(crop, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    return translate(x, adj).sum(axis=0)


def reassemble_position(obj, goff, M=10):
    return shift_and_sum(obj, goff, M) / (1e-9 + shift_and_sum(np.ones_like(obj), goff, M))


# ----------------------------------------------------------------------------------------------- probe
def default_probe(N, scale=0.7):
    filt = scipy.signal.windows.gaussian(N, std=N / (scale * np.pi**2), sym=True)
    filt = filt / filt.max()
    disk = (np.outer(filt, filt) > 0.5).astype(float)
    return scipy.ndimage.gaussian_filter(disk, 1) + 1e-9


def probe_mask(N):
    u = np.arange(N) - N // 2 + 0.5
    x, y = np.meshgrid(u, u)
    return np.sqrt(x * x + y * y) < N // 4


def normalize_probe(probe, probe_scale):
    probe = np.asarray(probe, np.complex64).reshape(probe.shape[0], probe.shape[1])
    norm = probe_scale * np.mean(np.abs(probe_mask(probe.shape[0]) * probe))
    return (probe / norm)[..., None].astype(np.complex64)


def gaussian_filter_3x3(x, sigma):
    """3x3 normalised Gaussian, numpy-'reflect' borders (scipy 'mirror'), on (n,H,W,ch), complex per part."""
    if np.iscomplexobj(x):
        return gaussian_filter_3x3(x.real, sigma) + 1j * gaussian_filter_3x3(x.imag, sigma)
    t = np.array([-1.0, 0.0, 1.0])
    k = np.exp(-(t**2) / (2 * sigma**2))
    k /= k.sum()
    K = np.outer(k, k)[None, :, :, None]
    return scipy.ndimage.correlate(x.astype(np.float64), K, mode="mirror").astype(np.float32)


def illuminate(obj, probe, mask=None, sigma=0.0):
    psi = (obj * probe[None]).astype(np.complex64)
    if sigma:
        psi = gaussian_filter_3x3(psi, sigma).astype(np.complex64)
    if mask is not None:
        psi = psi * mask[None]
    return psi.astype(np.complex64)


def estimate_probe(X, N, scale=0.7):
    tmp = X.mean(axis=(0, 3))
    row = np.abs(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(tmp))))[N // 2, :]
    sigma = np.sqrt(((row / row.sum()) * (np.arange(N) - N // 2) ** 2).sum())
    u = np.arange(N) - N // 2 + 0.5
    xx, yy = np.meshgrid(u, u)
    r = np.sqrt(xx * xx + yy * yy)
    p = np.exp(-(r**2) / (2 * sigma**2))[..., None] + 1e-9
    p = p * probe_mask(N)[..., None]
    p = p * (default_probe(N, scale).sum() / p.sum())
    return p.astype(np.float32)


# ----------------------------------------------------------------------------------------------- scaling
def intensity_scale(nphotons, N):
    return np.float32(np.sqrt(np.float32(nphotons)) / (N / 2))


def normalize_data(D, N):
    f = np.float32(np.sqrt((N / 2) ** 2 / np.mean(np.sum(D.astype(np.float64) ** 2, axis=(1, 2)))))
    return f * D.astype(np.float32), f


def simulation_scale(amplitude, nphotons):
    return np.sqrt(nphotons / np.mean(np.sum(np.abs(amplitude) ** 2, axis=(1, 2))))


# ----------------------------------------------------------------------------------------------- losses
def negloglik(y, yp):
    lp = np.log(yp)
    return np.exp(lp) - y * lp


def total_variation(x):
    if np.iscomplexobj(x):
        return total_variation(x.real) + total_variation(x.imag)
    dy = np.diff(x, axis=1)
    dx = np.diff(x, axis=2)
    return float(np.sum(dx.astype(np.float64) ** 2) + np.sum(dy.astype(np.float64) ** 2))


def combine_complex(amp, phi):
    return (amp * np.exp(1j * phi)).astype(np.complex64)


# ----------------------------------------------------------------------------------------------- forward chain
def forward(obj, off, probe, log_scale, P, N, probe_mask_arr=None, object_big=True):
    """Post-decoder chain: obj (B,N,N,nf) complex -> (trimmed, amplitude, intensity)."""
    C = off.shape[3]
    canvas = reassemble_layer(obj, off, P) if object_big else pad_to(channel_to_flat(obj), P)
    trimmed = trim(canvas, N)
    psi = extract(canvas, off, N) * probe[None]
    if probe_mask_arr is not None:
        psi = psi * probe_mask_arr[None]
    amp = np.exp(np.float32(log_scale)) * flat_to_channel(pad_and_diffract(psi), C)
    return trimmed, amp, amp**2
