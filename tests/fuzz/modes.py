"""Fuzzer modes beyond forward values (tests/fuzz/programs.py is the "value" mode).

- "grad": a random differentiable program over float32 inputs that require gradients, some of
  them edge inputs (exact ties, zeros, constant rows, -inf and NaN entries), reduced to a scalar
  loss; sometimes values are read (`.item()`, `.numpy()`, `print`, `pf.eval`) before
  `backward()`. The loss, the program's outputs and every leaf's `.grad` are compared with
  torch.autograd on the same program text (run against `TorchShim`, a `pf` made of torch):
  float64 is the reference and float32 torch measures how much rounding may move each value.
- "rebuild": a value program, then the same program built again with other input data (must
  be a compile-cache hit: no new miss) and again with other constants (scalars in attributes,
  clamp bounds, pad and fill values); each evaluation is compared with its own numpy reference,
  so a cached program that kept stale data or constants fails.
- "threads": a grad program and a value program (without random ops), each run alone first,
  then both at once from two threads (the value program under `pf.autograd.no_grad()`), twice
  each: every result must equal the single-thread result bit for bit.

`program_for(seed, index, mode="mixed")` picks the mode of program `index` from (seed, index)
(`MIX`), so any program is reproduced by seed and index alone. Every program has `run()` (an
Outcome), `describe()` (a pytest function) and `op_counts()`, as the value programs do.
"""

from __future__ import annotations

import dataclasses
import io
import math
import re
import threading
import traceback
import types
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import pyflame as pf
from tests.fuzz import programs as P
from tests.fuzz.programs import Ctx, Data, Failure, Node, OpSpec, Outcome, Program

MODES = ("value", "grad", "rebuild", "threads")
#: how often each mode is chosen in a "mixed" run
MIX = {"value": 0.4, "grad": 0.35, "rebuild": 0.15, "threads": 0.1}


def mode_for(seed: int, index: int) -> str:
    rng = np.random.default_rng([seed, index, 1])
    names = list(MIX)
    w = np.array([MIX[m] for m in names])
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def program_for(
    seed: int, index: int, max_ops: int = P.DEFAULT_MAX_OPS, mode: str = "mixed"
) -> Any:
    """Program `index` of the run with base seed `seed` in `mode` ("mixed": by index)."""
    if mode == "mixed":
        mode = mode_for(seed, index)
    label = f"program_for({seed}, {index}, mode={mode!r})"
    rng = np.random.default_rng([seed, index])
    if mode == "value":
        return P.random_program(rng, max_ops=max_ops, label=label)
    if mode == "grad":
        return random_grad_program(rng, max_ops=max_ops, label=label)
    if mode == "rebuild":
        return RebuildProgram(P.random_program(rng, max_ops=max_ops, label=label), rng)
    if mode == "threads":
        a = random_grad_program(rng, max_ops=max_ops, label=f"{label} thread A")
        b = P.random_program(
            rng, max_ops=max_ops, label=f"{label} thread B", ops=[s for s in P.OPS if not s.random]
        )
        program = ThreadsProgram(label, a, b)
        program.known_hits = a.known_hits | b.known_hits
        if "test_two_threads_keep_their_own_grad_mode" in P.KNOWN_BUGS and not known(
            "test_two_threads_keep_their_own_grad_mode"
        ):
            program.known_hits.add("test_two_threads_keep_their_own_grad_mode")
        return program
    raise ValueError(f"unknown fuzzer mode {mode!r}; one of {MODES + ('mixed',)}")


def known(name: str) -> bool:
    """Whether a mode-level known bug (an entry of programs.KNOWN_BUGS) is avoided now."""
    return name in P.KNOWN_BUGS and P.AVOID_KNOWN[0]


# ============================================================================ torch as `pf`


class _Anything:
    """`pf.MeshLayout` for torch: every layout is None (torch has one device)."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


class _Namespace:
    def __init__(self, lookup: Callable[[str], Any]):
        self._lookup = lookup

    def __getattr__(self, name: str) -> Any:
        return self._lookup(name)


class TorchShim:
    """The `pf` a program's text runs against to get PyTorch's answer: `pf.exp` is torch.exp,
    layouts are dropped, PyFlame's float32 is `float_dtype` (float64 for the reference), int32
    is int64 (PyTorch's integer default), `pf.backward(t)` is `t.backward()`, `pf.eval` does
    nothing. PyFlame spellings that torch lacks or spells otherwise are defined here."""

    def __init__(self, float_dtype: Any = None):
        import torch
        import torch.nn.functional as F

        self._torch, self._F = torch, F
        self._float = float_dtype or torch.float64
        self.float32 = self._float
        self.float16, self.bfloat16 = torch.float16, torch.bfloat16
        self.int32, self.bool = torch.int64, torch.bool
        self.MeshLayout = _Anything()
        self.nn = _Namespace(
            lambda name: (
                _Namespace(self._functional) if name == "functional" else getattr(torch.nn, name)
            )
        )
        self.autograd = _Namespace(
            lambda name: getattr(torch.autograd, name) if name != "backward" else self.backward
        )
        self.sim = _Anything()

    # ---------------------------------------------------------------- lookup

    @staticmethod
    def _drop_layout(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, layout: Any = None, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        return call

    def _functional(self, name: str) -> Any:
        if name == "layer_norm":
            return self.layer_norm
        if name == "pad":
            return self.pad
        if name == "scaled_dot_product_attention":
            return self.scaled_dot_product_attention
        return self._drop_layout(getattr(self._F, name))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in ("gelu", "silu", "pad", "layer_norm"):
            return self._functional(name)
        found = getattr(self._torch, name)
        if isinstance(found, types.ModuleType):  # pf.linalg, pf.special
            return found
        return self._drop_layout(found)

    def _tensor(self, value: Any) -> Any:
        return value if isinstance(value, self._torch.Tensor) else self._torch.tensor(value)

    # ---------------------------------------------------------------- creation

    def from_numpy(self, a: np.ndarray, layout: Any = None) -> Any:
        a = np.asarray(a)
        floating = a.dtype.kind == "f" or a.dtype == pf.bfloat16.numpy
        t = self._torch.from_numpy(a.astype(np.float64) if floating else a.copy())
        if t.is_floating_point():
            return t.to(self._float)
        return t.to(self._torch.int64) if a.dtype.kind in "iu" else t

    def _size(self, size: tuple[Any, ...]) -> list[int]:
        return list(size[0]) if len(size) == 1 and isinstance(size[0], list | tuple) else list(size)

    def zeros(self, *size: Any, dtype: Any = None, layout: Any = None) -> Any:
        return self._torch.zeros(self._size(size), dtype=dtype or self._float)

    def ones(self, *size: Any, dtype: Any = None, layout: Any = None) -> Any:
        return self._torch.ones(self._size(size), dtype=dtype or self._float)

    def full(self, size: Any, value: Any, dtype: Any = None, layout: Any = None) -> Any:
        return self._torch.full(list(size), value, dtype=dtype or self._float)

    def eye(self, n: int, m: int | None = None, dtype: Any = None, layout: Any = None) -> Any:
        return self._torch.eye(n, n if m is None else m, dtype=dtype or self._float)

    def arange(self, *args: Any, dtype: Any = None, layout: Any = None) -> Any:
        if dtype is None and any(isinstance(a, float) for a in args):
            dtype = self._float
        return self._torch.arange(*args, dtype=dtype)

    # ---------------------------------------------------------------- spellings

    def add(self, a: Any, b: Any) -> Any:
        return self._tensor(a) + b

    def sub(self, a: Any, b: Any) -> Any:
        return self._tensor(a) - b

    def float_power(self, a: Any, b: Any) -> Any:
        # torch's float64 is PyFlame's float32 (docs/ops.md): the shim's float dtype, so that
        # the float32 shim (the rounding spread) does not carry float64 into a matmul
        return self._torch.float_power(a, b).to(self._float)

    def mul(self, a: Any, b: Any) -> Any:
        return self._tensor(a) * b

    def div(self, a: Any, b: Any, rounding_mode: Any = None) -> Any:
        if rounding_mode is not None:
            return self._torch.div(self._tensor(a), b, rounding_mode=rounding_mode)
        return self._tensor(a) / b

    def expand(self, x: Any, *size: Any) -> Any:
        return x.expand(*size)

    def view(self, x: Any, size: Any) -> Any:
        return x.reshape(size)

    def permute(self, x: Any, *dims: Any) -> Any:
        return x.permute(*dims)

    def astype(self, x: Any, dtype: Any) -> Any:
        return x.to(dtype)

    def prod(self, x: Any, dim: Any = None, keepdim: bool = False) -> Any:
        if dim is None:
            out = x.prod()
            return out.reshape([1] * x.dim()) if keepdim else out
        return x.prod(dim, keepdim)

    def var(
        self,
        x: Any,
        dim: Any = None,
        unbiased: Any = None,
        keepdim: bool = False,
        correction: Any = None,
    ) -> Any:
        if correction is None:
            correction = 1 if unbiased is None else int(unbiased)
        return self._torch.var(x, dim=dim, correction=correction, keepdim=keepdim)

    def std(
        self,
        x: Any,
        dim: Any = None,
        unbiased: Any = None,
        keepdim: bool = False,
        correction: Any = None,
    ) -> Any:
        if correction is None:
            correction = 1 if unbiased is None else int(unbiased)
        # torch.std itself: its gradient at a constant group is 0 (sqrt(var)'s is NaN there)
        return self._torch.std(x, dim=dim, correction=correction, keepdim=keepdim)

    def logsumexp(self, x: Any, dim: Any = None, keepdim: bool = False) -> Any:
        return x.logsumexp(tuple(range(x.dim())) if dim is None else dim, keepdim)

    def pad(self, x: Any, pads: Any, mode: str = "constant", value: Any = None) -> Any:
        return self._F.pad(x, tuple(pads), mode, value)

    def layer_norm(
        self, x: Any, shape: Any, weight: Any = None, bias: Any = None, eps: float = 1e-5
    ) -> Any:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return self._F.layer_norm(x, shape, weight, bias, eps)

    def scaled_dot_product_attention(self, *args: Any, **kwargs: Any) -> Any:
        """torch's math path, the one PyFlame follows (and torch takes for 2-D and 3-D inputs).
        For 4-D inputs torch would pick its CPU flash kernel, which treats NaN and inf scores
        its own way (a row of NaN scores gives 0, an inf value gives inf where the math path
        gives NaN): a reference problem, not a PyFlame bug."""
        from torch.nn.attention import SDPBackend, sdpa_kernel

        with sdpa_kernel([SDPBackend.MATH]):
            return self._F.scaled_dot_product_attention(*args, **kwargs)

    # ---------------------------------------------------------------- running

    def backward(self, t: Any, gradient: Any = None) -> None:
        t.backward(gradient)

    def eval(self, *tensors: Any) -> None:
        pass

    def manual_seed(self, seed: int) -> None:
        pass


# ============================================================================ grad programs

#: registry entries a grad program uses (float, differentiable, or making constants)
GRAD_OPS = (
    "from_numpy",
    "zeros",
    "ones",
    "full",
    "eye",
    "full_like",
    "zeros_like",
    "add",
    "sub",
    "mul",
    "div",
    "add_scalar",
    "sub_scalar",
    "rsub_scalar",
    "mul_scalar",
    "div_scalar",
    "rdiv_scalar",
    "neg",
    "relu",
    "abs",
    "exp",
    "log",
    "sqrt",
    "rsqrt",
    "tanh",
    "sigmoid",
    "gelu",
    "silu",
    "pow",
    "pow_scalar",
    "rpow_scalar",
    "float_power",
    "float_power_scalar",
    "frexp_mantissa",
    "maximum",
    "minimum",
    "clamp",
    "compare_scalar",
    "gt",
    "lt",
    "eq",
    "where",
    "where_scalar",
    "sum",
    "mean",
    "amax",
    "amin",
    "max_all",
    "min_all",
    "max_dim",
    "min_dim",
    "var",
    "std",
    "prod",
    "logsumexp",
    "softmax",
    "log_softmax",
    "matmul",
    "bmm",
    "linear",
    "linear_bias",
    "layer_norm",
    "layer_norm_affine",
    "unsqueeze",
    "squeeze",
    "flatten",
    "expand",
    "broadcast_to",
    "cat",
    "stack",
    "stack3",
    "split",
    "chunk",
    "narrow",
    "pad",
    "transpose",
    "permute",
    "t",
    "T",
    "reshape",
    # session 30
    "cumsum",
    "cumprod",
    "cummax",
    "cummin",
    "logcumsumexp",
    "sort",
    "sort_gather",
    "msort",
    "topk",
    "topk_gather",
    "kthvalue",
    "kthvalue_gather",
    "median_all",
    "median",
    "median_gather",
    "quantile",
    "gather",
    "take_along_dim",
    "index_select",
    "take",
    "scatter",
    "scatter_value",
    "scatter_add",
    "scatter_reduce",
    "index_add",
    "index_copy",
    "index_fill",
    "masked_fill",
    "flip",
    "fliplr",
    "flipud",
    "rot90",
    "roll",
    "tril",
    "triu",
    "diag",
    "diagonal",
    "diag_embed",
    "trace",
    "repeat",
    "repeat_interleave",
    "movedim",
    "swapaxes",
    "unbind",
    "tensor_split",
    "hstack",
    "vstack",
    "dstack",
    "column_stack",
    "diff",
    "diff_ends",
    "var_mean_0",
    "var_mean_1",
    "std_mean_0",
    "aminmax_min",
    "aminmax_max",
    "nansum",
    "nanmean",
    "norm",
    "trapezoid",
    "cumulative_trapezoid",
    "cross",
    "kron",
    "tensordot",
    "inner",
    "outer",
    "dot",
    "mv",
    "addmm",
    "cdist",
    "clamp_min",
    "clamp_max",
    "clamp_tensor",
    "max_binary",
    "lerp",
    "lerp_tensor",
    "hypot",
    "atan2",
    "logaddexp",
    "logaddexp2",
    "copysign",
    "xlogy",
    "fmod",
    "fmod_scalar",
    "remainder",
    "remainder_scalar",
    "floor",
    "ceil",
    "trunc",
    "round",
    "frac",
    "sign",
    "square",
    "reciprocal",
    "erf",
    "erfc",
    "log1p",
    "expm1",
    "log2",
    "exp2",
    "sin",
    "cos",
    "atan",
    "sinh",
    "asinh",
    "sinc",
    "logit",
    "softplus",
    "elu",
    "celu",
    "selu",
    "leaky_relu",
    "hardtanh",
    "relu6",
    "mish",
    "hardswish",
    "hardsigmoid",
    "logsigmoid",
    "softsign",
    "tanhshrink",
    "softshrink",
    "hardshrink",
    "addcmul",
    "addcdiv",
)
#: ops whose gradient depends on exact ties: their operands must be exact (data, exact ops),
#: so that float32 PyFlame and float64 torch see the same ties
TIE_OPS = {
    "relu",
    "abs",
    "maximum",
    "minimum",
    "clamp",
    "amax",
    "amin",
    "max_all",
    "min_all",
    "max_dim",
    "min_dim",
    "cummax",
    "cummin",
    "sort",
    "sort_gather",
    "msort",
    "topk",
    "topk_gather",
    "kthvalue",
    "kthvalue_gather",
    "median_all",
    "median",
    "median_gather",
    "mode",
    "quantile",
    "aminmax_min",
    "aminmax_max",
    "norm",
    "clamp_min",
    "clamp_max",
    "clamp_tensor",
    "max_binary",
    "hardtanh",
    "relu6",
    "hardshrink",
    "softshrink",
    "scatter_reduce",
    "fmod",
    "fmod_scalar",
    "remainder",
    "remainder_scalar",
    "cdist",
    "hypot",
    # the sign of a zero decides them (atan2(+-0, -1) = +-pi): a zero from a product or a sum
    # has the sign the order of the arithmetic gives it
    "atan2",
    "copysign",
}
#: ops that pick elements by rank: among equal values PyTorch leaves which index is picked
#: undefined (topk, kthvalue, median, unstable sort), and the gradient goes to that index, so
#: their operand has distinct values in grad programs
DISTINCT_OPS = {
    "sort",
    "sort_gather",
    "msort",
    "topk",
    "topk_gather",
    "kthvalue",
    "kthvalue_gather",
    "median_all",
    "median",
    "median_gather",
    "quantile",
}
#: piecewise functions whose gradient at NaN PyTorch does not define: its vectorized CPU
#: kernel and its scalar one (a tensor's last elements) differ (hardtanh: 0 and 1, hardswish:
#: NaN and 1, logit with eps: 0 and NaN; elu, celu, selu: NaN and the slope 1 (scale), seen in
#: program_for(3110, 72): a [9, 10] input's NaNs got NaN, a [6] one's 1), so their operand
#: has no NaN in grad programs
NAN_UNDEFINED_OPS = {
    "elu",
    "celu",
    "selu",
    "hardswish",
    "hardsigmoid",
    "hardtanh",
    "relu6",
    "softshrink",
    "hardshrink",
    "logit",
}
#: spellings torch has no equivalent for on a Tensor (methods cannot be shimmed)
TORCH_LACKS = (
    "{0}.view(",
    "{0}.logsumexp(",
    "{0}.prod(",
    "{0}.astype(",
    "{0}.var(",
    "{0}.std(",
    "{0}.float_power(",  # (float64 in torch, float32 in PyFlame: the shim's `float_power`)
)
#: edge data of float32 inputs in grad programs, and how often each comes
EDGE_DATA = {"normal": 0.3, "ties": 0.24, "zeros": 0.14, "rows": 0.12, "-inf": 0.12, "nan": 0.08}
GRAD_DTYPES = {"float32": 0.9, "int32": 0.05, "bool": 0.05}
#: tolerances of a grad program's float32 results against float64 torch: atol (relative to
#: the array's largest magnitude), rtol, and a multiple of |torch float32 - torch float64|
GRAD_TOL = {"float32": (1e-5, 1e-4, 16.0)}
#: how often a grad program reads values before backward()
READ_BEFORE_BACKWARD = 0.35


#: ops whose gradient rule masks (see KNOWN_BUGS "test_grad_nan_through_max_min_clamp")
MASK_OPS = {
    "maximum",
    "minimum",
    "clamp",
    "amax",
    "amin",
    "max_all",
    "min_all",
    "max_dim",
    "min_dim",
    "max_pool2d",
}
#: registry entries through which no gradient flows (as in torch)
NOT_DIFFERENTIABLE = {"zeros_like", "ones_like", "full_like", "compare_scalar", "gt", "lt", "eq"}
#: ops that multiply: an infinite operand needs exact others (the sign of 0 * inf matters)
PRODUCT_OPS = {
    "mul",
    "div",
    "matmul",
    "bmm",
    "linear",
    "linear_bias",
    "layer_norm_affine",
    "pow",
    "float_power",
    "rdiv_scalar",
    "mul_scalar",
    "div_scalar",
    "cumprod",
    "kron",
    "tensordot",
    "inner",
    "outer",
    "dot",
    "mv",
    "addmm",
    "cross",
    "lerp",
    "lerp_tensor",
    "addcmul",
    "addcdiv",
    "xlogy",
    "scatter_reduce",
    "cdist",
    "trace",
}
#: whether the grad program being generated may have -inf/NaN data (set per program)
_nonfinite_data = [True]


def grad_data_attrs(ctx: Ctx) -> dict[str, Any]:
    """from_numpy data for grad programs: float32 edge data (ties, zeros, constant rows,
    -inf, NaN); other dtypes and constrained domains as in value programs."""
    if ctx.dtype != "float32" or ctx.domain:
        return P.data_attrs(ctx)
    seed, shape = ctx.int(0, 10**6), tuple(ctx.shape)
    rng = f"np.random.default_rng({seed})"
    names = [k for k in EDGE_DATA if _nonfinite_data[0] or k not in ("-inf", "nan")]
    w = np.array([EDGE_DATA[k] for k in names])
    kind = names[int(ctx.rng.choice(len(names), p=w / w.sum()))]
    normal = f"{rng}.standard_normal({shape!r})"
    mask = f"np.random.default_rng({seed + 1}).random({shape!r})"
    if kind == "ties" or (kind == "rows" and not shape):
        expr = f"{rng}.integers(-2, 3, {shape!r})"
    elif kind == "zeros":
        expr = f"np.where({mask} < 0.4, 0.0, {normal})"
    elif kind == "rows":  # constant along the last dim
        expr = f"np.broadcast_to({rng}.standard_normal({shape[:-1] + (1,)!r}), {shape!r})"
    elif kind in ("-inf", "nan"):
        value = "-np.inf" if kind == "-inf" else "np.nan"
        expr = f"np.where({mask} < 0.2, {value}, {normal})"
    else:
        expr = normal
    return {"data": Data(f"({expr}).astype(np.float32)"), "layout": P.layout_kw(ctx)}


# ---------------------------------------------------------------- nn ops (grad programs only)
# Their generation-time reference is torch's (float64), through `torch_ref`.


def torch_ref(code: str, **arrays: np.ndarray) -> np.ndarray:
    """Evaluate a PyFlame spelling with TorchShim (float64) on numpy arrays."""
    import torch

    shim = TorchShim(torch.float64)
    ns: dict[str, Any] = {"pf": shim, "np": np}
    for k, v in arrays.items():
        ns[k] = shim.from_numpy(np.asarray(v))
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = eval(code, ns)
    except Exception as err:
        raise P.NoReference(str(err)) from err
    return out.detach().numpy().astype(np.float64)


def _reduction(ctx: Ctx) -> P.Expr:
    return P.Expr(ctx.choice(("", ', reduction="sum"', ', reduction="none"', ', reduction="mean"')))


def class_target_attrs(ctx: Ctx) -> dict[str, Any]:
    """cross_entropy / nll_loss: class indices in range for (N, C) input, and a reduction."""
    n, c = ctx.shapes[0]
    seed = ctx.int(0, 10**6)
    return {
        "target": Data(f"np.random.default_rng({seed}).integers(0, {c}, ({n},)).astype(np.int32)"),
        "red": _reduction(ctx),
    }


def masked_target_attrs(ctx: Ctx) -> dict[str, Any]:
    """cross_entropy of logits + a mask of 0 and -inf that never hides the target class (how
    classes are masked out in practice): torch's loss and gradients are finite."""
    n, c = ctx.shapes[0]
    target = [int(t) for t in ctx.rng.integers(0, c, n)]
    seed = ctx.int(0, 10**6)
    mask = (
        f"np.where((np.random.default_rng({seed}).random(({n}, {c})) < 0.4) & "
        f"(np.arange({c}) != np.array({target})[:, None]), -np.inf, 0.0).astype(np.float32)"
    )
    return {
        "target": Data(f"np.array({target}, np.int32)"),
        "mask": Data(mask),
        "red": _reduction(ctx),
    }


def pool_attrs(ctx: Ctx) -> dict[str, Any]:
    """avg/max_pool2d: kernel, stride, padding (<= kernel / 2), ceil_mode, count_include_pad."""
    k = ctx.choice((1, 2, 2, 3, (2, 3), (3, 1)))
    kh, kw = (k, k) if isinstance(k, int) else k
    stride = ctx.choice((None, 1, 2, 3, (2, 1)))
    pad = ctx.choice(
        [
            p
            for p in (0, 1, (0, 1), (1, 0))
            if all(
                a <= b // 2
                for a, b in zip((p, p) if isinstance(p, int) else p, (kh, kw), strict=True)
            )
        ]
    )
    ceil = ctx.coin()
    args = f"{k!r}, {stride!r}, {pad!r}, ceil_mode={ceil}"
    return {"args": P.Expr(args), "cip": P.Expr(f", count_include_pad={ctx.coin()}")}


def sdpa_partner(ctx: Ctx) -> P.Shape:
    """key (..., S, E) for query (..., L, E); then value (..., S, Ev)."""
    q = ctx.shapes[0]
    if len(ctx.shapes) == 1:
        return q[:-2] + (ctx.choice((1, 2, 3, 5, 8)), q[-1])
    return ctx.shapes[1][:-1] + (ctx.choice((1, 2, 4, 7)),)


def sdpa_attrs(ctx: Ctx) -> dict[str, Any]:
    lq, s = ctx.shapes[0][-2], ctx.shapes[1][-2]
    seed = ctx.int(0, 10**6)
    row = ctx.int(0, lq - 1) if ctx.coin(0.4) else -1  # a query that may attend to nothing
    mask = (
        f"(np.random.default_rng({seed}).random(({lq}, {s})) < 0.6) & "
        f"(np.arange({lq})[:, None] != {row})"
    )
    scale = ctx.choice(("", ", scale=0.5"))
    return {
        "mask": Data(mask),
        "scale": P.Expr(scale),
        "causal": P.Expr(ctx.choice(("", "", ", is_causal=True")) + scale),
    }


_F = "pf.nn.functional."
NN_OPS = (
    P.op(
        "cross_entropy",
        1,
        f"{_F}cross_entropy({{0}}, pf.from_numpy({{target}}){{red}})",
        f"torch_ref('{_F}cross_entropy(a, pf.from_numpy(t){{red}})', a={{0}}, t={{target}})",
        accepts=P.rank_in(2),
        attrs=class_target_attrs,
        result="same",
        weight=0.6,
    ),
    P.op(
        "cross_entropy_masked",
        1,
        f"{_F}cross_entropy({{0}} + pf.from_numpy({{mask}}), pf.from_numpy({{target}}){{red}})",
        f"torch_ref('{_F}cross_entropy(a + pf.from_numpy(m), pf.from_numpy(t){{red}})', "
        "a={0}, m={mask}, t={target})",
        accepts=P.rank_in(2),
        attrs=masked_target_attrs,
        result="same",
        weight=0.4,
    ),
    P.op(
        "nll_loss",
        1,
        f"{_F}nll_loss({{0}}, pf.from_numpy({{target}}){{red}})",
        f"torch_ref('{_F}nll_loss(a, pf.from_numpy(t){{red}})', a={{0}}, t={{target}})",
        accepts=P.rank_in(2),
        attrs=class_target_attrs,
        result="same",
        weight=0.3,
    ),
    P.op(
        "avg_pool2d",
        1,
        f"{_F}avg_pool2d({{0}}, {{args}}{{cip}})",
        f"torch_ref('{_F}avg_pool2d(a, {{args}}{{cip}})', a={{0}})",
        accepts=P.rank_in(3, 4),
        attrs=pool_attrs,
        result="same",
        weight=0.5,
    ),
    P.op(
        "max_pool2d",
        1,
        f"{_F}max_pool2d({{0}}, {{args}})",
        f"torch_ref('{_F}max_pool2d(a, {{args}})', a={{0}})",
        accepts=P.rank_in(3, 4),
        attrs=pool_attrs,
        result="same",
        exact_operands=True,
        weight=0.5,
    ),
    P.op(
        "sdpa",
        3,
        f"{_F}scaled_dot_product_attention({{0}}, {{1}}, {{2}}{{causal}})",
        f"torch_ref('{_F}scaled_dot_product_attention(q, k, v{{causal}})', q={{0}}, k={{1}}, "
        "v={2})",
        accepts=P.min_rank(2),
        partner=sdpa_partner,
        attrs=sdpa_attrs,
        same_dtype=True,
        weight=0.4,
    ),
    P.op(
        "sdpa_mask",
        3,
        f"{_F}scaled_dot_product_attention({{0}}, {{1}}, {{2}}, "
        "attn_mask=pf.from_numpy({mask}){scale})",
        f"torch_ref('{_F}scaled_dot_product_attention(q, k, v, attn_mask=pf.from_numpy(m)"
        "{scale})', q={0}, k={1}, v={2}, m={mask})",
        accepts=P.min_rank(2),
        partner=sdpa_partner,
        attrs=sdpa_attrs,
        same_dtype=True,
        weight=0.4,
    ),
)


def grad_specs() -> list[OpSpec]:
    out = []
    registry = {**P.OPS_BY_NAME, **{s.name: s for s in NN_OPS}}
    for name in GRAD_OPS + tuple(s.name for s in NN_OPS):
        spec = registry[name]
        if not spec.enabled:
            continue
        templates = tuple(t for t in spec.templates if not any(b in t for b in TORCH_LACKS))
        changes: dict[str, Any] = {"pf": templates, "grad": True}
        if name == "from_numpy":
            changes["attrs"] = grad_data_attrs
        if name in TIE_OPS:
            changes["exact_operands"] = True
        out.append(dataclasses.replace(spec, **changes))
    return out


class _GradGenerator(P._Generator):
    def __init__(self, rng: np.random.Generator, ops: Sequence[OpSpec]):
        super().__init__(rng, ops)
        self.dtype_weights = GRAD_DTYPES
        self.allow_nonfinite = True
        self.scope_extra = {"torch_ref": torch_ref}

    def make(
        self,
        spec: OpSpec,
        operands: Sequence[Node],
        attrs: dict[str, Any],
        dtype: str | None = None,
    ) -> Node | None:
        if (
            spec.name in PRODUCT_OPS
            and not all(o.exact for o in operands)
            and any(not np.all(np.isfinite(o.ref)) for o in operands)
        ):
            return None  # inf * (a rounded value near 0): the sign of the result is noise
        if spec.name.startswith("layer_norm") and P._constant_along(operands[0].ref, attrs["axes"]):
            return None  # 0 / sqrt(eps) amplifies the rounding of the mean ~300 times
        if (
            spec.name in ("std", "std_mean_0")
            and not operands[0].exact
            and P._constant_along(operands[0].ref, attrs["axis"])
        ):
            # std's gradient (x - mean) / ((n - 1) std) is 0/0 on an equal group: torch masks
            # std == 0 to 0, but a last-bit difference in the rounded operand (a product's rows
            # summed in other orders on other PEs) makes it O(1) (program_for(3441, 0))
            return None
        if spec.name in NAN_UNDEFINED_OPS and np.isnan(operands[0].ref).any():
            return None
        if (
            spec.name in ("addcmul", "addcdiv")
            and any(not np.isfinite(o.ref).all() for o in operands[1:])
            and np.broadcast_shapes(*(o.ref.shape for o in operands))
            != np.broadcast_shapes(*(o.ref.shape for o in operands[1:]))
        ):
            # PyFlame computes tensor1 * (or /) tensor2 at their own broadcast shape and the
            # input's broadcast sums the gradient first; torch sums +-inf products over the
            # broadcast rows: inf against NaN, neither defined (program_for(3129, 43))
            return None
        if spec.name == "var_mean_1" and not np.isfinite(operands[0].ref).all():
            # torch.var_mean's mean is its Welford running mean: NaN with an infinity (-inf -
            # -inf), where torch.mean and PyFlame give -inf (program_for(3126, 91))
            return None
        if spec.name == "scatter_reduce" and attrs["reduce"] in ("amax", "amin"):
            # PyTorch's backward counts self's ties with the result even when include_self is
            # False (src then gets half its gradient): only include_self=True is defined
            if not attrs["inc"]:
                return None
        if spec.name == "cumprod" or spec.name == "scatter_reduce" and attrs["reduce"] == "prod":
            # PyTorch's backward divides the result by the input: NaN where an input is NaN
            # or infinite even for elements the output does not depend on (scatter_reduce
            # where nothing was scattered, cumprod before the infinity: derivative 1 and 0)
            if any(not np.all(np.isfinite(o.ref)) for o in operands):
                return None
        if spec.name == "clamp_tensor" and operands[0].shape != np.broadcast_shapes(
            *(o.shape for o in operands)
        ):
            return None  # PyTorch's backward fails when the bounds broadcast x to more
        if spec.name == "take_along_dim" and attrs["axis"] is None:
            return None  # PyTorch's takes a view(-1): an error for a non-contiguous input
        if spec.name in DISTINCT_OPS:
            ref = operands[0].ref
            if not operands[0].exact or np.unique(ref).size != ref.size:
                return None
        node = super().make(spec, operands, attrs, dtype)
        if node is not None and node.data_leaf and node.dtype == "float32":
            node.requires_grad = bool(self.rng.random() < 0.85)
        return node


@dataclasses.dataclass
class Read:
    """A value read before backward(): `loss.item()`, `print(t3)`, `pf.eval(t3)`, ..."""

    name: str  # "loss" or a node
    style: str  # "item", "numpy", "print", "eval"

    def code(self) -> str:
        var = "loss" if self.name == "loss" else f"outs[{self.name!r}]"
        return {
            "item": f"{var}.item()",
            "numpy": f"{var}.numpy()",
            "print": f"print({var})",
            "eval": f"pf.eval({var})",
        }[self.style]


class GradProgram:
    """A differentiable program: `build(pf)` returns (loss, leaves, outputs); then reads,
    backward and one `pf.eval` of the loss, the outputs and every gradient."""

    mode = "grad"

    def __init__(
        self,
        label: str,
        nodes: list[Node],
        terms: list[tuple[str, str | None]],
        weights: dict[str, str],
        reads: list[Read],
        method: bool,
        manual_seed: int,
    ):
        self.label = label
        self.steps = nodes
        #: loss = sum of (node * weight).sum() (or node.sum() when the weight is None)
        self.terms = terms
        #: weight variable -> numpy expression
        self.weights = weights
        self.reads = reads
        #: loss.backward() (True) or pf.backward(loss)
        self.method = method
        self.manual_seed = manual_seed
        self.known_hits: set[str] = set()

    # ---------------------------------------------------------------- structure

    @property
    def nodes(self) -> list[Node]:
        return self.steps

    @property
    def evals(self) -> list[Any]:
        return [None]  # one pf.eval after backward (for the run's summary)

    @property
    def checked(self) -> list[str]:
        return [t for t, _ in self.terms]

    @property
    def grad_leaves(self) -> list[str]:
        return [n.name for n in self.nodes if n.requires_grad]

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.spec.name] = counts.get(node.spec.name, 0) + 1
        return counts

    def without(self, names: set[str]) -> GradProgram:
        gone = set(names)
        nodes = []
        for node in self.nodes:
            if node.name in gone or gone.intersection(node.operands):
                gone.add(node.name)
            else:
                nodes.append(node)
        terms = [(t, w) for t, w in self.terms if t not in gone]
        reads = [r for r in self.reads if r.name not in gone]
        return GradProgram(
            self.label, nodes, terms, self.weights, reads, self.method, self.manual_seed
        )

    def __repr__(self) -> str:
        return f"<GradProgram {self.label}: {len(self.nodes)} tensors>"

    # ---------------------------------------------------------------- source text

    def build_lines(self) -> list[str]:
        """`def build(pf): ...`, the same text for PyFlame and for TorchShim."""
        lines = ["def build(pf):"]
        for node in self.nodes:
            lines += [f"    {var} = {expr}" for var, expr in node.setup]
            lines.append(f"    {node.name} = {node.pf_code}")
            if node.requires_grad:
                lines.append(f"    {node.name}.requires_grad = True")
        parts = []
        for t, w in self.terms:
            if w is None:
                parts.append(f"{t}.sum()")
            else:
                lines.append(f"    {w} = {self.weights[w]}")
                parts.append(f"({t} * pf.from_numpy({w})).sum()")
        lines.append(f"    loss = {' + '.join(parts)}")
        leaves = ", ".join(f"{n!r}: {n}" for n in self.grad_leaves)
        outs = ", ".join(f"{t!r}: {t}" for t, _ in self.terms)
        lines.append(f"    return loss, {{{leaves}}}, {{{outs}}}")
        return lines

    def run_lines(self) -> list[str]:
        """The PyFlame side after build: reads, backward, one evaluation."""
        lines = ["loss, leaves, outs = build(pf)"]
        lines += [r.code() for r in self.reads]
        lines.append("loss.backward()" if self.method else "pf.backward(loss)")
        lines.append(
            "pf.eval(loss, *outs.values(), "
            "*[x.grad for x in leaves.values() if x.grad is not None])"
        )
        return lines

    def describe(self, name: str | None = None, imports: bool = True) -> str:
        name = name or "test_" + re.sub(r"\W+", "_", self.label).strip("_")
        body = [f"# {self.label}"] + self.build_lines()
        body += ["", "with pf.target(pf.sim.SMALL):", f"    pf.manual_seed({self.manual_seed})"]
        body += ["    " + line for line in self.run_lines()]
        body.append("check_against_torch(build, loss, leaves, outs)")
        text = f"def {name}():\n" + "\n".join("    " + line if line else "" for line in body)
        text += "\n"
        if imports:
            text = (
                "import numpy as np\n\nimport pyflame as pf\n"
                "from tests.fuzz.modes import check_against_torch\n\n\n" + text
            )
        return text

    # ---------------------------------------------------------------- running

    def build_function(self) -> Callable[[Any], Any]:
        ns: dict[str, Any] = {"np": np, "math": math}
        exec(compile("\n".join(self.build_lines()), f"<{self.label}>", "exec"), ns)
        return ns["build"]

    def execute(self, outcome: Outcome, phase: str = "first") -> dict[str, np.ndarray] | None:
        """Run the PyFlame side; its results by name ("loss", outputs, "grad x0"), or None
        (and a failure) on an exception."""
        build = self.build_function()
        ns: dict[str, Any] = {"pf": pf, "build": build, "print": _quiet_print}
        lines = self.run_lines()
        try:
            with pf.target(pf.sim.SMALL):
                pf.manual_seed(self.manual_seed)
                for line in lines:
                    exec(compile(line, f"<{self.label}>", "exec"), ns)
        except Exception as err:
            frame = traceback.extract_tb(err.__traceback__)[-1]
            message = "".join(traceback.format_exception_only(err)).strip()
            kind = "error" if phase == "first" else f"{phase}-error"
            outcome.failures.append(
                Failure(
                    kind,
                    f"`{line}` raised {message} (at {frame.filename}:{frame.lineno} in "
                    f"{frame.name})",
                )
            )
            return None
        return _results(ns["loss"], ns["leaves"], ns["outs"])

    def run(self, rerun: bool = True) -> Outcome:
        outcome = Outcome(self)  # type: ignore[arg-type]
        got = self.execute(outcome)
        if got is None:
            return outcome
        outcome.failures += compare_with_torch(self.build_function(), got)
        outcome.cycles = ([None], [None])
        return outcome


def _quiet_print(*args: Any, **kwargs: Any) -> None:
    """`print` in a fuzzed program: formats its arguments (that is what is tested), shows
    nothing."""
    print(*args, file=io.StringIO())


def _results(loss: Any, leaves: dict[str, Any], outs: dict[str, Any]) -> dict[str, Any]:
    """numpy values of the loss, the outputs and the leaves' gradients (None: no .grad)."""
    out: dict[str, Any] = {"loss": np.asarray(_numpy(loss))}
    for k, t in outs.items():
        out[k] = np.asarray(_numpy(t))
    for k, t in leaves.items():
        out[f"grad {k}"] = None if t.grad is None else np.asarray(_numpy(t.grad))
    return out


def _numpy(t: Any) -> np.ndarray:
    if type(t).__module__.startswith("torch"):  # force: a ZeroTensor gradient (floor's) too
        return t.detach().numpy(force=True)
    return t.numpy()


def torch_results(build: Callable[[Any], Any], float_dtype: Any) -> dict[str, Any]:
    import torch

    shim = TorchShim(float_dtype)
    default = torch.get_default_dtype()
    torch.set_default_dtype(float_dtype)  # bool/int tensors with float scalars
    try:
        with torch.enable_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # x.T of 3-d tensors, std of one element
            loss, leaves, outs = build(shim)
            loss.backward()
    finally:
        torch.set_default_dtype(default)
    return _results(loss, leaves, outs)


def compare_with_torch(
    build: Callable[[Any], Any], got: dict[str, Any], dtype: str = "float32"
) -> list[Failure]:
    """Failures of PyFlame's results `got` (by name) against torch.autograd's."""
    import torch

    want = torch_results(build, torch.float64)
    spread_ref = torch_results(build, torch.float32)
    failures = []
    for name, ref in want.items():
        value = got.get(name)
        if ref is None or value is None:
            if (ref is None) != (value is None):
                failures.append(
                    Failure(
                        "grad-mismatch",
                        f"pf's .grad is {'None' if value is None else 'set'}, "
                        f"torch's is {'None' if ref is None else 'set'}",
                        name,
                    )
                )
            continue
        failure = compare_values(name, value, ref, spread_ref[name], dtype)
        if failure:
            failures.append(failure)
    return failures


def compare_values(
    name: str, got: np.ndarray, ref: np.ndarray, ref32: np.ndarray, dtype: str
) -> Failure | None:
    kind = "grad-mismatch" if name.startswith("grad ") else "mismatch"
    got = np.asarray(got)
    if got.shape != ref.shape:
        return Failure("shape", f"pf gave shape {list(got.shape)}, torch {list(ref.shape)}", name)
    atol, rtol, factor = GRAD_TOL[dtype]
    got64, ref64 = got.astype(np.float64), ref.astype(np.float64)
    finite = np.isfinite(ref64)
    scale = max(1.0, float(np.max(np.abs(ref64[finite]), initial=0.0)))
    with np.errstate(all="ignore"):
        spread = np.abs(ref32.astype(np.float64) - ref64)
        tol = (
            atol * scale
            + rtol * np.abs(ref64)
            + factor * np.nan_to_num(spread, nan=0.0, posinf=0.0)
        )
        ok = np.where(
            finite,
            np.abs(got64 - ref64) <= tol,
            (np.isnan(got64) & np.isnan(ref64)) | (got64 == ref64),
        )
    if ok.all():
        return None
    with np.errstate(all="ignore"):
        err = np.where(ok, -1.0, np.nan_to_num(np.abs(got64 - ref64) / tol, nan=np.inf))
    idx = np.unravel_index(int(np.argmax(err)), ref.shape) if ref.shape else ()
    return Failure(
        kind,
        f"{int((~ok).sum())}/{ok.size} elements differ from torch; worst at "
        f"{list(map(int, idx))}: pf {got[idx]!r} torch {ref64[idx]!r}",
        name,
    )


def check_against_torch(
    build: Callable[[Any], Any], loss: Any, leaves: dict[str, Any], outs: dict[str, Any]
) -> None:
    """For reproducers: assert PyFlame's evaluated loss, outputs and .grad equal torch's."""
    failures = compare_with_torch(build, _results(loss, leaves, outs))
    assert not failures, "\n".join(map(str, failures))


def _depends(nodes: Sequence[Node]) -> dict[str, bool]:
    """Whether each node depends on a leaf that requires grad (through any op)."""
    out: dict[str, bool] = {}
    for node in nodes:
        operands = node.operands[1:] if node.spec.name.startswith("where") else node.operands
        out[node.name] = node.requires_grad or (
            node.spec.name not in NOT_DIFFERENTIABLE
            and node.dtype in P.FLOATS
            and any(out.get(o, False) for o in operands)
        )
    return out


def random_grad_program(
    rng: np.random.Generator,
    *,
    max_ops: int = P.DEFAULT_MAX_OPS,
    label: str = "grad program",
    ops: Sequence[OpSpec] | None = None,
) -> GradProgram:
    """A random grad program of 1..max_ops ops from `ops` (default: grad_specs())."""
    specs = [s for s in (ops if ops is not None else grad_specs()) if s.enabled]
    _nonfinite_data[0] = bool(rng.random() < 0.3)
    hits: set[str] = set()
    if _nonfinite_data[0] and known("test_grad_nan_through_max_min_clamp"):
        specs = [s for s in specs if s.name not in MASK_OPS]
    elif _nonfinite_data[0] and "test_grad_nan_through_max_min_clamp" in P.KNOWN_BUGS:
        hits.add("test_grad_nan_through_max_min_clamp")
    for _attempt in range(5):
        g = _GradGenerator(rng, specs)
        target = int(rng.integers(1, max_ops + 1))
        tries = 0
        while g.n_ops < target and tries < 30 * max_ops:
            tries += 1
            g.apply(g.weighted(g.ops))
        nodes = g.nodes
        needs = _depends(nodes)
        floats = [
            n
            for n in nodes
            if n.dtype in P.FLOATS
            and needs[n.name]
            and not n.data_leaf
            and (n.ref.size or not known("test_reduce_a_zero_size_tensor"))
        ]
        sinks = [n for n in floats if not g.consumers.get(n.name)]
        extra = [n for n in floats if n not in sinks and rng.random() < 0.2]
        chosen = sinks + extra
        if chosen:
            break
    else:
        return _trivial_grad_program(label)
    terms: list[tuple[str, str | None]] = []
    weights: dict[str, str] = {}
    for node in chosen:
        if rng.random() < 0.75:
            w = f"w{len(weights)}"
            weights[w] = (
                f"np.random.default_rng({int(rng.integers(10**6))}).standard_normal("
                f"{node.shape!r}).astype(np.float32)"
            )
            terms.append((node.name, w))
        else:
            terms.append((node.name, None))
    reads: list[Read] = []
    if not known("test_values_read_before_backward_keep_the_graph") and (
        rng.random() < READ_BEFORE_BACKWARD
    ):
        for _ in range(int(rng.integers(1, 3))):
            name = "loss" if rng.random() < 0.5 else str(terms[int(rng.integers(len(terms)))][0])
            styles = (
                ("item", "numpy", "print", "eval") if name == "loss" else ("numpy", "print", "eval")
            )
            reads.append(Read(name, styles[int(rng.integers(len(styles)))]))
    if reads and "test_values_read_before_backward_keep_the_graph" in P.KNOWN_BUGS:
        hits.add("test_values_read_before_backward_keep_the_graph")
    program = GradProgram(
        label, nodes, terms, weights, reads, bool(rng.random() < 0.5), int(rng.integers(0, 2**31))
    )
    program.known_hits = hits | g.known_hits
    return program


def _trivial_grad_program(label: str) -> GradProgram:
    spec = dataclasses.replace(P.OPS_BY_NAME["from_numpy"])
    data = "np.arange(6, dtype=np.float32).reshape(2, 3)"
    leaf = Node(
        "x0",
        spec,
        (),
        {},
        (("a0", data),),
        "pf.from_numpy(a0)",
        "a0",
        (2, 3),
        "float32",
        True,
        True,
        np.arange(6.0).reshape(2, 3),
        data_leaf=True,
        requires_grad=True,
    )
    neg = Node(
        "t1",
        P.OPS_BY_NAME["neg"],
        ("x0",),
        {},
        (),
        "-x0",
        "-r_x0",
        (2, 3),
        "float32",
        True,
        True,
        -np.arange(6.0).reshape(2, 3),
    )
    return GradProgram(label, [leaf, neg], [("t1", None)], {}, [], True, 0)


# ============================================================================ rebuild programs

#: registry entries whose scalar attributes may change without changing the program's shapes
CONSTANT_OPS = {
    "add_scalar",
    "sub_scalar",
    "rsub_scalar",
    "mul_scalar",
    "div_scalar",
    "rdiv_scalar",
    "pow_scalar",
    "pow_int_scalar",
    "rpow_scalar",
    "float_power_scalar",
    "clamp",
    "compare_scalar",
    "where_scalar",
    "full",
    "full_like",
    "pad",
    # session 30
    "clamp_min",
    "clamp_max",
    "fmod_scalar",
    "remainder_scalar",
    "lerp",
    "masked_fill",
    "index_fill",
    "scatter_value",
    "addcmul",
    "addcdiv",
    "addmm",
    "softplus",
    "elu",
    "celu",
    "leaky_relu",
    "hardtanh",
    "softshrink",
    "hardshrink",
    "logit",
    "quantile",
    "round_decimals",
}
_SEED = re.compile(r"default_rng\((\d+)\)")


def _render(node: Node, attrs: dict[str, Any], setup_vars: dict[str, str]) -> tuple[str, str]:
    """pf and numpy code of `node` with other attributes (data variables kept)."""
    values = {}
    for key, value in attrs.items():
        if isinstance(value, Data):
            values[key] = setup_vars[key]
        elif isinstance(value, P.Expr):
            values[key] = str(value)
        else:
            values[key] = repr(value)
    return node.template.format(*node.operands, **values), values


class RebuildProgram:
    """A value program, then the same program with other data (a cache hit), then with other
    constants; each evaluation checked against numpy."""

    mode = "rebuild"

    def __init__(self, base: Program, rng: np.random.Generator):
        self.base = base
        self.label = base.label
        self.known_hits = base.known_hits
        self.data = self._variant(base, rng, data=True)
        self.constants = self._variant(base, rng, data=False)

    @property
    def nodes(self) -> list[Node]:
        return self.base.nodes

    @property
    def evals(self) -> list[Any]:
        return self.base.evals

    def op_counts(self) -> dict[str, int]:
        return self.base.op_counts()

    @staticmethod
    def _variant(base: Program, rng: np.random.Generator, data: bool) -> Program | None:
        """`base` with other data seeds (data) or other scalar attributes, if every value
        still fits the domains the program was generated for (else None)."""
        for _ in range(6):
            steps: list[Any] = []
            refs: dict[str, np.ndarray] = {}
            changed = False
            ok = True
            by_name: dict[str, Node] = {}
            for step in base.steps:
                if not isinstance(step, Node):
                    steps.append(step)
                    continue
                node = step
                if data and node.setup:
                    setup = tuple(
                        (v, _SEED.sub(lambda m: f"default_rng({int(rng.integers(10**6))})", e))
                        for v, e in node.setup
                    )
                    changed |= setup != node.setup
                    node = dataclasses.replace(node, setup=setup)
                elif not data and node.spec.name in CONSTANT_OPS and rng.random() < 0.8:
                    new = _new_constants(node, [by_name[o] for o in node.operands], rng)
                    if new is not None:
                        changed |= new.pf_code != node.pf_code
                        node = new
                ref = _reference(node, refs)
                if ref is None or ref.shape != node.shape:
                    ok = False
                    break
                for i, o in enumerate(node.operands):
                    domain = node.spec.domain(i)
                    if domain and not P._Generator.in_domain(
                        dataclasses.replace(by_name[o], ref=refs[o]), domain
                    ):
                        ok = False
                if not ok:
                    break
                refs[node.name] = ref
                node = dataclasses.replace(node, ref=ref)
                by_name[node.name] = node
                steps.append(node)
            if ok and changed:
                kind = "other data and seed" if data else "other constants"
                seed = (base.manual_seed + 7) % 2**31 if data else base.manual_seed
                return Program(f"{base.label}, {kind}", seed, steps)
        return None

    def describe(self, name: str | None = None, imports: bool = True) -> str:
        name = name or "test_" + re.sub(r"\W+", "_", self.label).strip("_")
        body = self.base.body_lines()
        if self.data is not None:
            body += ["", "info = pf.cache_info()"] + self.data.body_lines()
            body.append("assert pf.cache_info().misses == info.misses  # only data changed")
        if self.constants is not None:
            body += [""] + self.constants.body_lines()
        text = f"def {name}():\n" + "\n".join("    " + line if line else "" for line in body)
        text += "\n"
        if imports:
            head = "import math\n\n" if "math." in text else ""
            tail = P.REFS_IMPORT if "fz." in text else ""
            text = f"{head}import numpy as np\n\nimport pyflame as pf\n{tail}\n\n" + text
        return text

    def run(self, rerun: bool = True) -> Outcome:
        outcome = self.base.run(rerun)
        outcome.program = self  # type: ignore[assignment]
        if not outcome.ok or outcome.skipped:
            return outcome
        for variant, tag in ((self.data, "data"), (self.constants, "constants")):
            if variant is None:
                continue
            before = pf.cache_info()
            sub = variant.run(rerun=False)
            for f in sub.failures:
                f.kind = f"{tag}-{f.kind}"
                f.message = f"{variant.label}: {f.message}"
            outcome.failures += sub.failures
            if sub.skipped:
                continue
            after = pf.cache_info()
            if tag == "data" and not sub.failures and after.misses != before.misses:
                outcome.failures.append(
                    Failure(
                        "cache",
                        f"only input data changed, yet {after.misses - before.misses} "
                        "new compile-cache miss(es)",
                    )
                )
        return outcome


def _reference(node: Node, refs: dict[str, np.ndarray]) -> np.ndarray | None:
    """The generation-time reference of a node (random ops keep their placeholders)."""
    if node.spec.random:
        return node.ref
    scope: dict[str, Any] = {
        "np": np,
        "math": math,
        "pf": pf,
        "fz": P.refs,
        **{f"r_{o}": refs[o] for o in node.operands},
    }
    try:
        with np.errstate(all="ignore"), P.warnings.catch_warnings():
            P.warnings.simplefilter("ignore", RuntimeWarning)
            for var, expr in node.setup:
                scope[var] = eval(expr, scope)
            np_code = node.np_code
            value = np.asarray(eval(np_code, scope), dtype=np.float64)
    except Exception:
        return None
    value = P.round_to(value, node.dtype)
    if not np.all(np.isfinite(value)):
        return None
    if value.size and np.max(np.abs(value)) > P.MAX_MAGNITUDE[node.dtype]:
        return None
    return value


def _new_constants(node: Node, operands: list[Node], rng: np.random.Generator) -> Node | None:
    """`node` with other scalar attributes of the same Python types and result dtype."""
    spec = node.spec
    ctx = Ctx(
        rng,
        tuple(o.shape for o in operands),
        tuple(o.dtype for o in operands),
        shape=node.shape,
        dtype=node.dtype,
    )
    for _ in range(10):
        if spec.name == "pad":
            value = ctx.choice((None, 0.0, 1.5, -2.0, 3.25, -0.5))
            kw = "" if value is None else f", value={value!r}"
            attrs = {**node.attrs, "value_kw": P.Expr(kw), "value": 0.0 if value is None else value}
        else:
            attrs = spec.attrs(ctx) if spec.attrs else None
            if attrs is None:
                continue
            attrs = {
                k: (node.attrs[k] if isinstance(node.attrs.get(k), Data) else v)
                for k, v in attrs.items()
            }
        same_types = all(type(attrs.get(k)) is type(node.attrs.get(k)) for k in spec.scalars)
        dtype = (
            node.dtype
            if spec.creation
            else spec.result_dtype([(o.dtype, len(o.shape)) for o in operands], attrs)
        )
        if not same_types or dtype != node.dtype:
            continue
        setup_vars = {
            k: v
            for k, v in zip(
                [k for k, a in node.attrs.items() if isinstance(a, Data)],
                [var for var, _ in node.setup],
                strict=True,
            )
        }
        pf_code, values = _render(node, attrs, setup_vars)
        compute = spec.compute_dtype([(o.dtype, len(o.shape)) for o in operands], attrs, dtype)
        np_code = spec.np.format(
            *(P.cast_code(f"r_{o.name}", o.dtype, compute) for o in operands), **values
        )
        return dataclasses.replace(node, attrs=attrs, pf_code=pf_code, np_code=np_code)
    return None


# ============================================================================ two threads


class ThreadsProgram:
    """A grad program (thread A) and a value program (thread B, under no_grad)."""

    mode = "threads"
    REPEATS = 2

    def __init__(self, label: str, a: GradProgram, b: Program):
        self.label, self.a, self.b = label, a, b

    @property
    def nodes(self) -> list[Node]:
        return self.a.nodes + self.b.nodes

    @property
    def evals(self) -> list[Any]:
        return self.a.evals + self.b.evals

    def op_counts(self) -> dict[str, int]:
        counts = dict(self.a.op_counts())
        for k, v in self.b.op_counts().items():
            counts[k] = counts.get(k, 0) + v
        return counts

    def describe(self, name: str | None = None, imports: bool = True) -> str:
        name = name or "test_" + re.sub(r"\W+", "_", self.label).strip("_")
        a = (
            [f"# {self.a.label}"]
            + self.a.build_lines()
            + ["", "def program_a():", "    with pf.target(pf.sim.SMALL):"]
        )
        a += ["        " + line for line in self.a.run_lines()]
        a.append("    return results(loss, leaves, outs)")
        b = [f"# {self.b.label}", "def program_b():", "    with pf.autograd.no_grad():"]
        b += [
            "        " + line
            for line in self.b.body_lines()[1:]
            if not line.startswith(("np.testing", "assert"))
        ]
        b.append(
            f"    return {{n: v.numpy() for n, v in locals().items() if n in {self.b.checked!r}}}"
        )
        body = (
            a
            + [""]
            + b
            + [
                "",
                "alone = program_a(), program_b()",
                f"together = run_in_two_threads(program_a, program_b, repeats={self.REPEATS})",
                "assert_same_results(alone, together)",
            ]
        )
        text = f"def {name}():\n" + "\n".join("    " + line if line else "" for line in body)
        text += "\n"
        if imports:
            head = "import math\n\n" if "math." in text else ""
            tail = P.REFS_IMPORT if "fz." in text else ""
            text = (
                f"{head}import numpy as np\n\nimport pyflame as pf\nfrom tests.fuzz.modes "
                f"import assert_same_results, results, run_in_two_threads\n{tail}\n\n" + text
            )
        return text

    def _run_a(self) -> dict[str, Any]:
        outcome = Outcome(self.a)  # type: ignore[arg-type]
        got = self.a.execute(outcome)
        if got is None:
            raise RuntimeError("; ".join(map(str, outcome.failures)))
        return got

    def _run_b(self) -> dict[str, Any]:
        outcome = Outcome(self.b)
        with pf.autograd.no_grad():
            done = self.b._execute(outcome, "thread")
        if done is None:
            raise RuntimeError("; ".join(map(str, outcome.failures)))
        ns, _cycles = done
        return {n: np.asarray(ns[n].numpy()) for n in self.b.checked}

    def run(self, rerun: bool = True) -> Outcome:
        outcome = Outcome(self)  # type: ignore[arg-type]
        for part in (self.a, self.b):
            sub = part.run(rerun=False)
            outcome.failures += sub.failures
            if sub.skipped:
                outcome.skipped = sub.skipped
        if outcome.failures or outcome.skipped:
            return outcome
        if known("test_two_threads_keep_their_own_grad_mode"):
            outcome.skipped = "threads: known bug test_two_threads_keep_their_own_grad_mode"
            return outcome
        try:
            alone = self._run_a(), self._run_b()
        except Exception as err:
            outcome.failures.append(Failure("error", f"single thread: {err}"))
            return outcome
        try:
            together = run_in_two_threads(self._run_a, self._run_b, self.REPEATS)
        except Exception as err:
            outcome.failures.append(Failure("thread-error", str(err)))
            return outcome
        outcome.failures += same_results(alone, together)
        outcome.cycles = ([None], [None])
        return outcome


def results(loss: Any, leaves: dict[str, Any], outs: dict[str, Any]) -> dict[str, Any]:
    """For reproducers: numpy values of the loss, outputs and gradients."""
    return _results(loss, leaves, outs)


def run_in_two_threads(
    a: Callable[[], Any], b: Callable[[], Any], repeats: int = 2
) -> tuple[list[Any], list[Any]]:
    """Run `a` and `b` `repeats` times each, concurrently in two threads; their results.
    An exception in either is raised here (with the thread's traceback as text)."""
    barrier = threading.Barrier(2)
    out: dict[str, list[Any]] = {"a": [], "b": []}
    errors: list[str] = []

    def worker(key: str, fn: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=60)
            for _ in range(repeats):
                out[key].append(fn())
        except Exception as err:
            frame = traceback.extract_tb(err.__traceback__)[-1]
            errors.append(
                f"thread {key}: "
                + "".join(traceback.format_exception_only(err)).strip().replace("\n", " ")
                + f" (at {frame.filename}:{frame.lineno} in {frame.name})"
            )

    threads = [threading.Thread(target=worker, args=(k, f)) for k, f in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    if errors:
        raise RuntimeError("\n".join(errors))
    return out["a"], out["b"]


def same_results(
    alone: tuple[dict[str, Any], dict[str, Any]], together: tuple[list[Any], list[Any]]
) -> list[Failure]:
    failures = []
    for key, single, runs in (("A", alone[0], together[0]), ("B", alone[1], together[1])):
        for r, got in enumerate(runs):
            for name, want in single.items():
                value = got.get(name)
                if (want is None) != (value is None) or (
                    want is not None
                    and not (
                        np.shape(value) == np.shape(want)
                        and np.array_equal(value, want, equal_nan=True)
                    )
                ):
                    failures.append(
                        Failure(
                            "thread-mismatch",
                            f"thread {key} run {r + 1}: differs from the "
                            f"single-thread result ({_short(value)} vs {_short(want)})",
                            name,
                        )
                    )
    return failures


def assert_same_results(
    alone: tuple[dict[str, Any], dict[str, Any]], together: tuple[list[Any], list[Any]]
) -> None:
    failures = same_results(alone, together)
    assert not failures, "\n".join(map(str, failures))


def _short(value: Any) -> str:
    if value is None:
        return "None"
    text = np.array2string(np.asarray(value).ravel()[:4], precision=4)
    return text


# ============================================================================ registry vs torch


class _DtypeShim(TorchShim):
    """TorchShim keeping every dtype (float16, bfloat16; int32 data as int64): what dtype
    PyTorch gives a spelling."""

    def __init__(self) -> None:
        import torch

        super().__init__(torch.float32)

    def from_numpy(self, a: np.ndarray, layout: Any = None) -> Any:
        a = np.asarray(a)
        if a.dtype == pf.bfloat16.numpy:
            return self._torch.from_numpy(a.astype(np.float32)).to(self._torch.bfloat16)
        t = self._torch.from_numpy(a.copy())
        return t.to(self._torch.int64) if a.dtype.kind in "iu" else t


def check_entry_against_torch(name: str, programs: int = 4, seed: int = 0) -> tuple[int, list[str]]:
    """Registry entry `name`'s numpy reference and result dtype rule against PyTorch, without
    PyFlame: small programs of `from_numpy` and the entry, their PyFlame text run against
    TorchShim (float64: the values) and against torch keeping every dtype (the dtype). The
    number of nodes checked, and what differed."""
    import torch

    names = {
        torch.float32: "float32",
        torch.float16: "float16",
        torch.bfloat16: "bfloat16",
        torch.int64: "int32",
        torch.int32: "int32",
        torch.bool: "bool",
    }
    spec = P.OPS_BY_NAME[name]
    templates = tuple(t for t in spec.templates if not any(b in t for b in TORCH_LACKS))
    specs = [P.OPS_BY_NAME["from_numpy"], dataclasses.replace(spec, pf=templates)]
    problems: list[str] = []
    checked = 0
    for i in range(programs):
        rng = np.random.default_rng([seed, i, sum(map(ord, name))])
        program = P.random_program(rng, ops=specs, max_ops=3)
        for shim in (TorchShim(torch.float64), _DtypeShim()):
            ns: dict[str, Any] = {"pf": shim, "np": np}
            for node in program.nodes:
                for var, expr in node.setup:
                    ns[var] = eval(expr, {"np": np, "pf": pf})
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        ns[node.name] = eval(node.pf_code, ns)
                except Exception as err:
                    problems.append(f"torch refuses `{node.pf_code}`: {err}")
                    break
                if node.spec.name != name:
                    continue
                checked += 1
                t = ns[node.name]
                if isinstance(shim, _DtypeShim):
                    if names.get(t.dtype) != node.dtype:
                        problems.append(f"`{node.pf_code}`: torch {t.dtype}, fuzzer {node.dtype}")
                    continue
                got = t.detach().to(torch.float64).numpy()
                if got.shape != node.ref.shape:
                    problems.append(f"`{node.pf_code}`: torch shape {got.shape}, {node.ref.shape}")
                    continue
                operands = [program.nodes[int(o[1:])].dtype for o in node.operands]
                half = node.dtype in P.HALF or any(d in P.HALF for d in operands)
                rtol = 2e-2 if half else 1e-6
                atol = rtol * max(1.0, float(np.max(np.abs(node.ref), initial=0.0)))
                if not np.allclose(got, node.ref, rtol=rtol, atol=atol, equal_nan=True):
                    problems.append(
                        f"`{node.pf_code}`: torch {got}, numpy `{node.np_code}` {node.ref}"
                    )
    return checked, problems
