"""C kernels for the CPU LoRA fast paths (``kernels.c``, ``kernels_llama.c``, ``kernels_attention.c``): fused passes
that eager PyTorch runs as several.

- ``drop_positions``: the dropped positions of an i.i.d. Bernoulli(p) mask as geometric gaps, from a
  xoshiro256** stream seeded by one draw from torch's generator (so runs stay reproducible and resumable),
  with the logarithms vectorised: 3-5x cheaper than drawing the gaps with torch.
- ``dropped``: dropout with drawn positions in one pass (scale and zero), instead of a scaling pass and an
  ``index_fill_``; ``zero_positions`` zeroes them in place (a LoRA input gradient), on both threads.
- ``lora_drop_low`` / ``lora_drop_back`` / ``lora_drop_grad_a``: dropout of several adapters that read one input
  (q, k and v; gate and up) as sparse corrections of the dense products with the input itself, so that no
  dropped copy is written and one product serves every adapter (``fastlora._GroupedLora``).
- ``lora_low_grads``: a LoRA layer's two low-rank gradients (of its (tokens x r) activations and of B) in one
  pass over the output gradient, instead of two thin products that each read it.
- ``swiglu`` / ``swiglu_backward``: ``silu(gate) * up`` in one pass, and its backward (the gradients of gate and
  up, and the down adapter's lora_A gradient from the product made again in L1) in one pass instead of five
  and a product.
- ``rotary``: Llama's rotary embedding of queries or keys in one pass each way, instead of rotate_half's
  slices, negation and concatenation and three elementwise passes (and their backward).
- ``rms_norm`` / ``rms_norm_backward``: Llama's RMSNorm for a frozen weight, one pass each way instead of
  about six (forward) and ten (backward).
- ``attention`` / ``attention_backward``: causal attention within packed examples, head size 64, on vectors as
  wide as the target's registers (16, 8 or 4 floats).

The library is compiled on first use with the system C compiler (``cc -O3 -march=native -fopenmp``, about a
second; ``fcmatch.train.cpu.build`` says why at first use and how it is cached) and loaded with ctypes; its OpenMP
loops run on the libgomp torch has already loaded. Without a compiler, or with ``FCMATCH_KERNELS=0``, ``library()``
is None and the fast path runs its PyTorch twins of the same maths (tested against each other). Every wrapper takes
contiguous fp32 CPU tensors; ``usable`` says whether a tensor is one.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import math
import os
import platform
import shutil
from pathlib import Path

import torch

from fcmatch.train.cpu import build

logger = logging.getLogger(__name__)

_SOURCES = tuple(Path(__file__).with_name(name) for name in ("kernels.c", "kernels_llama.c", "kernels_attention.c"))
_HEADERS = (Path(__file__).with_name("kernels_vector.h"),)  # included by the sources: part of the library's hash
# No -ffast-math: it lets the compiler assume no NaN or infinity, and with GCC before 13 a shared library built
# with it sets flush-to-zero and denormals-are-zero for the whole process when it loads (a float32 1e-39 then
# reads as 0 in torch too). -fno-math-errno and -fno-trapping-math change no value; they let sqrtf and the
# loops' conditionals vectorise. The vectorised expf and log come from glibc's libmvec, as they did under
# -ffast-math, so the dropout draws and the SiLU values are those of the earlier builds.
_FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fopenmp", "-shared", "-fPIC",
          "-std=gnu11")
_PORTABLE_FLAGS = tuple(f for f in _FLAGS if f != "-march=native")  # compilers without -march=native

_P, _I64, _F32, _INT = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float, ctypes.c_int
_SIGNATURES = {
    "fc_drop_positions": (_P, _I64, _I64, ctypes.c_double, ctypes.c_uint64, _I64, _INT),
    "fc_dropped": (_P, _P, _P, _I64, _I64, _F32, _INT),
    "fc_zero_positions": (_P, _P, _I64, _INT),
    "fc_lora_drop_low": (_P, _P, _P, _P, _I64, _I64, _I64, _I64, _I64, _INT),
    "fc_lora_drop_back": (_P, _P, _P, _P, _I64, _I64, _I64, _I64, _I64, _INT),
    "fc_lora_drop_grad_a": (_P, _P, _P, _P, _I64, _I64, _I64, _I64, _I64, _INT),
    "fc_swiglu": (_P, _P, _P, _I64, _INT),
    "fc_swiglu_backward": (_P, _P, _P, _P, _P, _P, _I64, _I64, _P, _I64, _I64, _I64, _F32, _INT),
    "fc_rotary": (_P, _P, _P, _P, _I64, _I64, _I64, _INT, _INT),
    "fc_rms_norm": (_P, _P, _P, _P, _I64, _I64, _F32, _INT),
    "fc_rms_norm_backward": (_P, _P, _P, _P, _P, _I64, _I64, _INT),
    "fc_lora_low_grads": (_P, _I64, _P, _P, _P, _P, _I64, _I64, _I64, _I64, _F32, _INT),
    "fc_attention": (_P, _P, _P, _P, _P, _P, _I64, _I64, _I64, _I64, _F32, _INT),
    "fc_attention_backward": (_P, _P, _P, _P, _P, _P, _P, _P, _P, _P, _I64, _I64, _I64, _I64, _F32, _INT),
}


def _libm(flags: tuple[str, ...]) -> tuple[str, ...]:
    """The libraries to link: glibc's vector maths too on x86-64 (``kernels_vector.h`` declares its expf and log),
    otherwise libm alone and the scalar functions (``-DFC_NO_MVEC``)."""
    if platform.machine() in ("x86_64", "AMD64") and platform.libc_ver()[0] == "glibc":
        return flags, ("-lmvec", "-lm")
    return (*flags, "-DFC_NO_MVEC"), ("-lm",)


def _build() -> ctypes.CDLL:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise OSError("no C compiler found (cc or gcc; set CC to choose one)")
    key = b"\0".join([build.cpu_signature(), *(header.read_bytes() for header in _HEADERS)])
    library = build.cached_library("kernels", compiler, _SOURCES, (_libm(_FLAGS), _libm(_PORTABLE_FLAGS)), key)
    for name, argtypes in _SIGNATURES.items():
        function = getattr(library, name)
        function.argtypes, function.restype = argtypes, None
    library.fc_drop_positions.restype = ctypes.c_int64
    library.fc_vector_width.argtypes, library.fc_vector_width.restype = (), ctypes.c_int
    library.fc_isa.argtypes, library.fc_isa.restype = (), ctypes.c_char_p
    library.vector_width = library.fc_vector_width()  # floats per vector: 16 with AVX-512, 8 with AVX, else 4
    library.isa = library.fc_isa().decode()  # the widest instruction set the build was allowed, e.g. "avx512f"
    return library


@functools.cache
def library() -> ctypes.CDLL | None:
    """The loaded kernels, built on first call; None when ``FCMATCH_KERNELS=0`` or they cannot be built."""
    if os.environ.get("FCMATCH_KERNELS", "1") == "0":
        return None
    try:
        return _build()
    except OSError as error:
        logger.warning("fcmatch: the C training kernels are unavailable, using PyTorch's operations: %s", error)
        return None


def usable(*tensors: torch.Tensor) -> bool:
    """Whether the kernels are loaded and every tensor is a contiguous fp32 CPU tensor, outside CPU autocast (whose
    matmuls would give the kernels half tensors to write fp32 values into)."""
    if torch.is_autocast_enabled("cpu"):
        return False
    return all(t.device.type == "cpu" and t.dtype == torch.float32 and t.is_contiguous() for t in tensors) \
        and library() is not None


def _ptr(tensor: torch.Tensor) -> int:
    return tensor.data_ptr()


DROP_SEGMENT = 1 << 18  # at most this many elements per independently seeded stream of drop_positions


def drop_seed() -> int:
    """A seed for ``drop_positions``, drawn from torch's CPU generator (so runs stay reproducible and resumable)."""
    return int(torch.randint(0, 2**63 - 1, (), dtype=torch.int64))


def drop_capacity(n: int, p: float) -> int:
    """The buffer ``drop_positions`` first tries: the expected count plus, per segment, 8 standard deviations and
    64 positions."""
    segments = -(-n // DROP_SEGMENT)
    expected = n * p
    return int(expected + 8 * math.sqrt(expected * segments) + 64 * segments)


def drop_positions(n: int, p: float, seed: int | None = None) -> torch.Tensor:
    """Sorted int64 flat indices in [0, n), each present independently with probability 0 < p < 1.

    Segments of equal length, at most ``DROP_SEGMENT`` elements, draw in parallel from streams derived from one seed
    (``drop_seed()`` unless given), so the result depends on that seed only, not on the thread count: the same seed
    gives the same positions again, which lets backward redraw them instead of keeping them."""
    if seed is None:
        seed = drop_seed()
    cap = drop_capacity(n, p)
    while True:
        out = torch.empty(cap, dtype=torch.int64)
        count = library().fc_drop_positions(_ptr(out), cap, n, math.log1p(-p), seed, DROP_SEGMENT,
                                            torch.get_num_threads())
        if count >= 0:
            return out[:count]
        cap *= 2  # a segment fell short: the same seed again, with room


def dropped(x: torch.Tensor, positions: torch.Tensor, scale: float) -> torch.Tensor:
    """A new tensor: ``x`` * scale with the sorted flat ``positions`` zeroed."""
    out = torch.empty_like(x)
    library().fc_dropped(_ptr(out), _ptr(x), _ptr(positions), positions.numel(), x.numel(), scale,
                         torch.get_num_threads())
    return out


def zero_positions(x: torch.Tensor, positions: torch.Tensor) -> None:
    """In place: zero the flat ``positions`` of ``x``."""
    library().fc_zero_positions(_ptr(x), _ptr(positions), positions.numel(), torch.get_num_threads())


def lora_drop_low(low: torch.Tensor, x: torch.Tensor, a: torch.Tensor, positions: torch.Tensor, blocks: int) -> None:
    """In place: (tokens, blocks*r) ``low`` = x a^T for ``blocks`` stacked (r, in) adapters ``a`` becomes
    [D_j(x) A_j^T]_j (unscaled), adapter j's dropped positions being the sorted flat ``positions`` in
    [j * x.numel(), (j + 1) * x.numel())."""
    rows, n_in = x.shape
    library().fc_lora_drop_low(_ptr(low), _ptr(x), _ptr(a), _ptr(positions), positions.numel(), rows, n_in, blocks,
                               a.shape[0] // blocks, torch.get_num_threads())


def lora_drop_back(back: torch.Tensor, grad_low: torch.Tensor, a: torch.Tensor, positions: torch.Tensor,
                   blocks: int) -> None:
    """In place: (tokens, in) ``back`` = grad_low a becomes sum_j D_j(grad_low_j A_j) (unscaled)."""
    rows, n_in = back.shape
    library().fc_lora_drop_back(_ptr(back), _ptr(grad_low), _ptr(a), _ptr(positions), positions.numel(), rows, n_in,
                                blocks, a.shape[0] // blocks, torch.get_num_threads())


def lora_drop_grad_a(grad_a: torch.Tensor, grad_low: torch.Tensor, x: torch.Tensor, positions: torch.Tensor,
                     blocks: int) -> None:
    """In place: (blocks*r, in) ``grad_a`` = grad_low^T x becomes [grad_low_j^T D_j(x)]_j (unscaled)."""
    rows, n_in = x.shape
    library().fc_lora_drop_grad_a(_ptr(grad_a), _ptr(grad_low), _ptr(x), _ptr(positions), positions.numel(), rows,
                                  n_in, blocks, grad_a.shape[0] // blocks, torch.get_num_threads())


def low_grads_fit(g: torch.Tensor, lora_b: torch.Tensor, low: torch.Tensor) -> bool:
    """Whether ``lora_low_grads`` takes these: the kernels are loaded, g and B are contiguous fp32 CPU tensors,
    ``low``'s rows are contiguous, and the rank is 1, 2 or 4 of the library's vectors (16, 32 or 64 with AVX-512)."""
    if not usable(g, lora_b) or low.dtype != torch.float32 or low.device.type != "cpu" or low.stride(1) != 1:
        return False
    width = library().vector_width
    return low.shape[1] in (width, 2 * width, 4 * width)


def lora_low_grads(g: torch.Tensor, lora_b: torch.Tensor, low: torch.Tensor, scaling: float,
                   grad_low: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(scaling * g B, scaling * g^T low) for a LoRA layer's (tokens, out) output gradient ``g``, its (out, r) B and
    (tokens, r) low-rank activations, in one pass over g (see ``low_grads_fit``). ``low`` and ``grad_low`` (written
    in place when given) may be column slices of wider tensors, as in ``fastlora._GroupedLora``."""
    rows, out = g.shape
    rank = low.shape[1]
    if grad_low is None:
        grad_low = torch.empty(rows, rank, dtype=torch.float32)
    grad_b = torch.empty(out, rank, dtype=torch.float32)
    library().fc_lora_low_grads(_ptr(grad_low), grad_low.stride(0), _ptr(grad_b), _ptr(g), _ptr(lora_b), _ptr(low),
                                low.stride(0), rows, out, rank, scaling, torch.get_num_threads())
    return grad_low, grad_b


def swiglu(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """silu(gate) * up as a new tensor."""
    hidden = torch.empty_like(gate)
    library().fc_swiglu(_ptr(hidden), _ptr(gate), _ptr(up), gate.numel(), torch.get_num_threads())
    return hidden


def swiglu_backward(grad: torch.Tensor, gate: torch.Tensor, up: torch.Tensor, grad_low: torch.Tensor | None = None,
                    positions: torch.Tensor | None = None, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Backward of silu(gate) * up for (rows, m) tensors: ``grad`` becomes the gate's gradient in place; returns the
    gradient of up and, given the down adapter's (rows, r) ``grad_low``, its lora_A gradient
    ``scale * grad_low^T D(silu(gate) * up)`` (r, m), D zeroing the sorted flat ``positions`` (None: no dropout),
    made in the same pass without writing the product."""
    rows, m = gate.shape
    grad_up = torch.empty_like(up)
    grad_a = None
    if grad_low is not None:
        grad_low = grad_low if grad_low.stride(1) == 1 else grad_low.contiguous()
        grad_a = torch.empty(grad_low.shape[1], m, dtype=grad.dtype)
    npos = 0 if positions is None else positions.numel()
    library().fc_swiglu_backward(_ptr(grad), _ptr(grad_up), None if grad_a is None else _ptr(grad_a), _ptr(gate),
                                 _ptr(up), None if grad_low is None else _ptr(grad_low),
                                 0 if grad_low is None else grad_low.stride(0), 0 if grad_a is None else grad_a.shape[0],
                                 _ptr(positions) if npos else None, npos, rows, m, scale, torch.get_num_threads())
    return grad_up, grad_a


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight * x / sqrt(mean(x^2) + eps) over the last dimension, the per-row 1/sqrt(...) for backward)."""
    dim = x.shape[-1]
    rows = x.numel() // dim
    out, rstd = torch.empty_like(x), torch.empty(rows, dtype=torch.float32)
    library().fc_rms_norm(_ptr(out), _ptr(rstd), _ptr(x), _ptr(weight), rows, dim, eps, torch.get_num_threads())
    return out, rstd


def rms_norm_backward(grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, rstd: torch.Tensor) -> torch.Tensor:
    """The gradient of RMSNorm's input (frozen weight) as a new tensor."""
    dim = x.shape[-1]
    out = torch.empty_like(x)
    library().fc_rms_norm_backward(_ptr(out), _ptr(grad), _ptr(x), _ptr(weight), _ptr(rstd), x.numel() // dim, dim,
                                   torch.get_num_threads())
    return out


def rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, backward: bool = False,
           out: torch.Tensor | None = None) -> torch.Tensor:
    """Rotary embedding of (batch, tokens, heads, head_dim) ``x`` with (batch, tokens, head_dim) ``cos`` and ``sin``
    into ``out`` (a new tensor by default; ``x`` itself works); ``backward`` applies the transpose (the gradient of
    the input)."""
    out = torch.empty_like(x) if out is None else out
    batch, tokens, heads, dim = x.shape
    library().fc_rotary(_ptr(out), _ptr(x), _ptr(cos), _ptr(sin), batch * tokens, heads, dim, int(backward),
                        torch.get_num_threads())
    return out


ATTENTION_HEAD_DIM = 64  # the attention kernels' head size


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bounds: torch.Tensor,
              scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal attention within packed examples: (tokens, heads, 64) ``q``, (tokens, kv_heads, 64) ``k`` and ``v``
    (grouped-query: heads a multiple of kv_heads), examples starting at int64 ``bounds`` (the last entry = tokens).
    Returns (the (tokens, heads, 64) output, the (heads, tokens) log-sum-exp of each query's scores)."""
    tokens, heads, _ = q.shape
    out, lse = torch.empty_like(q), torch.empty(heads, tokens, dtype=torch.float32)
    library().fc_attention(_ptr(out), _ptr(lse), _ptr(q), _ptr(k), _ptr(v), _ptr(bounds), bounds.numel() - 1, tokens,
                           heads, k.shape[1], scale, torch.get_num_threads())
    return out, lse


def attention_backward(grad: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, out: torch.Tensor,
                       lse: torch.Tensor, bounds: torch.Tensor,
                       scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of :func:`attention`'s q, k and v from the output's (contiguous) ``grad``; probabilities are
    recomputed from ``lse``."""
    tokens, heads, _ = q.shape
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    library().fc_attention_backward(_ptr(dq), _ptr(dk), _ptr(dv), _ptr(grad), _ptr(q), _ptr(k), _ptr(v), _ptr(out),
                                    _ptr(lse), _ptr(bounds), bounds.numel() - 1, tokens, heads, k.shape[1], scale,
                                    torch.get_num_threads())
    return dq, dk, dv
