"""What an uploaded TorchScript file may do before Lumen runs it: pure tensor operations, nothing else.

A TorchScript file is a program. Lumen runs one only after three checks:

1. ``archive_refusal``, before ``torch.jit.load``: the file's code defines no ``__setstate__``
   (``torch.jit.load`` runs that method while loading, before anything could inspect it).
2. ``refusal``: the graph of every method of the module, of each submodule and of their forward
   hooks, nested ``if``/``loop`` blocks and called functions included, uses only operators in
   ``ALLOWED`` (pure tensor, arithmetic and control-flow operators); anything that reads or writes
   files, prints, starts threads or calls other processes or the network is refused.
3. ``first_forward``: the one forward pass that counts the class scores runs in a fresh Python
   process (``python -m models.sources.torchscript_guard FILE H W ...``) under a time limit, a memory limit
   and no right to write a file's contents, with one torch thread and no GPU. The child repeats
   checks 1 and 2, loads the file and prints the output's shape as one JSON line; the server runs
   the module only after the child succeeded.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

STARTUP_TIMEOUT_S = 120.0  # the child's start-up: importing torch, loading and checking the file
FORWARD_TIMEOUT_S = 60.0  # the first forward pass itself
FORWARD_MEMORY_BYTES = 4 * 1024**3  # the child's data segment (RLIMIT_DATA): heap and anonymous memory
_CODE_LIMIT = 64 * 1024**2  # bytes of code, all members together, read when looking for __setstate__

# Operators an uploaded TorchScript module may use, by namespace and name (overloads included).
# Built from the scripted and traced graphs of torchvision resnet18, mobilenet_v3_small,
# efficientnet_b0, densenet121, convnext_tiny, swin_t, vit_b_16, regnet, shufflenet and squeezenet,
# timm tf_efficientnet_lite0, vit_tiny and convnext_atto, and the tiny CNNs of the tests, then
# reviewed by hand and widened with their pure neighbours. Every one computes on tensors or
# Python values in memory; none reads or writes a file, prints, logs, sleeps, forks or talks to
# another process. Anything not listed (other namespaces: quantized::, rpc::, c10d::, custom
# torch.ops libraries) is refused.
ALLOWED = frozenset(
    # Graph structure: constants, control flow, attributes of the module, containers, casts.
    {f"prim::{n}" for n in (
        "Constant", "If", "Loop", "GetAttr", "SetAttr", "CreateObject", "RaiseException",
        "ListConstruct", "ListUnpack", "TupleConstruct", "TupleUnpack", "TupleIndex", "TupleSlice",
        "DictConstruct", "DictIndex", "Uninitialized", "unchecked_cast", "unchecked_unwrap_optional",
        "NumToTensor", "ImplicitTensorToNum", "isinstance", "EnumName", "EnumValue", "StringIndex",
        "device", "dtype", "layout", "requires_grad", "is_cuda", "is_cpu", "is_nested", "is_quantized",
        "is_sparse", "is_mkldnn", "is_meta", "type", "max", "min", "abs", "rangelist", "tolist",
        "itemsize", "nbytes", "shape", "index", "data", "ModuleContainerIndex",
    )}
    # Python scalars, strings, lists and dicts as TorchScript runs them (aten:: names).
    | {f"aten::{n}" for n in (
        "Int", "Float", "Bool", "Complex", "ScalarImplicit", "IntImplicit", "FloatImplicit", "str",
        "format", "len", "__getitem__", "_set_item", "append", "extend", "insert", "pop", "clear",
        "reverse", "list", "copy", "slice", "__contains__", "keys", "values", "items", "get",
        "setdefault", "dict", "count", "index", "join", "split", "strip", "lower", "upper",
        "startswith", "endswith", "replace", "__is__", "__isnot__", "__not__", "__and__", "__or__",
        "__xor__", "__lshift__", "__rshift__", "__interpolate", "__upsample", "__upsample_bilinear",
        "eq", "ne", "lt", "le", "gt", "ge", "add", "sub", "mul", "div", "floordiv", "remainder",
        "pow", "neg", "abs", "floor", "ceil", "round", "trunc", "sqrt", "exp", "log", "sin", "cos",
        "tan", "tanh", "min", "max", "sum", "any", "all", "divmod", "fmod", "isnan", "isinf",
        "is_grad_enabled", "is_autocast_enabled", "is_autocast_cpu_enabled", "dim", "size", "numel",
        "is_floating_point", "is_complex", "is_contiguous", "get_device", "element_size", "sym_size",
        "sym_numel", "__range_length", "__derive_index", "_assert_int_or_pair",
        # A Python warning (nn.MultiheadAttention's scripted code has one): shown once per place.
        "warn",
    )}
    # Shapes and views: reshape, slice, join and split tensors.
    | {f"aten::{n}" for n in (
        "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "squeeze", "squeeze_",
        "unsqueeze", "unsqueeze_", "permute", "transpose", "transpose_", "t", "contiguous", "expand",
        "expand_as", "repeat", "repeat_interleave", "select", "narrow", "chunk", "split_with_sizes",
        "tensor_split", "unbind", "cat", "concat", "concatenate", "stack", "hstack", "vstack", "flip",
        "roll", "movedim", "moveaxis", "swapaxes", "tile", "broadcast_to", "index_select", "gather",
        "scatter", "scatter_add", "masked_select", "take_along_dim", "diagonal", "tril", "triu",
        "meshgrid", "unfold", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle",
    )}
    # New tensors, conversion and copies within memory.
    | {f"aten::{n}" for n in (
        "tensor", "scalar_tensor", "as_tensor", "zeros", "ones", "full", "empty", "zeros_like",
        "ones_like", "full_like", "empty_like", "rand_like", "randn_like", "new_zeros", "new_ones",
        "new_full", "new_empty", "new_tensor", "arange", "linspace", "eye", "to", "type_as", "float",
        "double", "half", "bfloat16", "int", "long", "bool", "detach", "detach_", "clone", "copy_",
        "fill_", "zero_", "masked_fill", "masked_fill_", "index", "index_put", "index_put_",
        "index_fill", "index_fill_", "index_copy", "scatter_", "requires_grad_", "item", "cpu",
        "numpy_T", "dropout", "dropout_", "feature_dropout", "feature_dropout_", "alpha_dropout",
        "alpha_dropout_", "feature_alpha_dropout", "bernoulli", "bernoulli_", "rand", "randn",
        "randint", "uniform_", "normal_", "multinomial",
    )}
    # Arithmetic, comparisons, reductions and linear algebra on tensors.
    | {f"aten::{n}" for n in (
        "add_", "sub_", "mul_", "div_", "rsub", "floor_divide", "true_divide", "fmod", "pow_",
        "neg_", "abs_", "reciprocal", "rsqrt", "sqrt_", "square", "exp_", "exp2", "expm1", "log2",
        "log10", "log1p", "log_", "sigmoid_", "tanh_", "erf", "erfinv", "sign", "clamp", "clamp_",
        "clamp_min", "clamp_min_", "clamp_max", "clamp_max_", "clip", "lerp", "addcmul", "addcdiv",
        "maximum", "minimum", "amax", "amin", "aminmax", "argmax", "argmin", "topk", "sort",
        "argsort", "cumsum", "cumprod", "mean", "var", "std", "var_mean", "std_mean", "prod",
        "norm", "frobenius_norm", "linalg_norm", "linalg_vector_norm", "logsumexp", "where",
        "nonzero", "eq_", "equal", "isclose", "allclose", "logical_and", "logical_or", "logical_not",
        "bitwise_and", "bitwise_or", "bitwise_not", "matmul", "mm", "bmm", "mv", "dot", "addmm",
        "addmm_", "baddbmm", "addbmm", "einsum", "outer", "tensordot", "cdist", "cosine_similarity",
        "pairwise_distance",
    )}
    # Layers: convolution, normalisation, pooling, activations, attention, resizing and padding.
    | {f"aten::{n}" for n in (
        "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
        "_convolution", "convolution", "linear", "bilinear", "embedding", "batch_norm", "group_norm",
        "instance_norm", "layer_norm", "native_layer_norm", "rms_norm", "local_response_norm",
        "max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices", "avg_pool1d",
        "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
        "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d", "lp_pool2d", "relu",
        "relu_", "relu6", "leaky_relu", "leaky_relu_", "prelu", "rrelu", "elu", "elu_", "selu",
        "selu_", "celu", "gelu", "gelu_", "silu", "silu_", "mish", "mish_", "hardswish",
        "hardswish_", "hardsigmoid", "hardsigmoid_", "hardtanh", "hardtanh_", "softplus",
        "softsign", "tanhshrink", "threshold", "threshold_", "glu", "logsigmoid", "log_sigmoid",
        "sigmoid", "softmax", "log_softmax", "_softmax", "scaled_dot_product_attention",
        "_native_multi_head_attention", "upsample_nearest1d", "upsample_nearest2d",
        "upsample_bilinear2d", "upsample_bicubic2d", "interpolate", "pad", "constant_pad_nd",
        "reflection_pad1d", "reflection_pad2d", "replication_pad1d", "replication_pad2d",
        "zero_pad2d", "grid_sampler", "affine_grid_generator", "one_hot", "normalize",
    )}
)

_WHY = {  # a reason for the refusals people will meet most
    "aten::from_file": "reads or writes files on the server",
    "aten::save": "writes files on the server",
    "aten::_print": "prints on the server",
    "prim::Print": "prints on the server",
    "prim::fork": "starts threads on the server",
    "aten::wait": "waits on threads",
    "prim::CallMethod": "calls a method Lumen cannot inspect (a module interface)",
    "prim::CallFunction": "calls a function Lumen cannot inspect",
}


def _why(kind: str) -> str:
    if kind in _WHY:
        return _WHY[kind]
    namespace = kind.split("::", 1)[0]
    if namespace in ("rpc", "c10d", "_c10d_functional", "dist") or kind.startswith("prim::rpc"):
        return "talks to other processes"
    if namespace not in ("aten", "prim"):
        return "is not a built-in tensor operator"
    return "is not one of the pure tensor operators Lumen allows"


def _nodes(block):
    for node in block.nodes():
        yield node
        for sub in node.blocks():  # the branches of prim::If, the body of prim::Loop
            yield from _nodes(sub)


def _calls_outside(graph, module_types: set[str]) -> bool:
    """Whether the graph calls a function, or a method of anything but the module's own (sub)modules."""
    return any(
        n.kind() == "prim::CallFunction"
        or (n.kind() == "prim::CallMethod" and n.inputsAt(0).type().str() not in module_types)
        for n in _nodes(graph)
    )


def _methods(module, module_types: set[str]):
    """(where, graph) for every method of the module and its submodules, and their forward hooks.

    A method's own graph is checked, its calls into submodules being checked with those; a method
    that calls anything else (a function, a TorchScript class, a module interface) is checked
    inlined, so that the code it calls is checked too (an interface call stays a call, refused).
    """
    import torch

    for path, sub in module.named_modules():
        prefix, c = f"{path}." if path else "", sub._c
        for name in c._method_names():
            method = c._get_method(name)
            graph = method.graph
            yield f"{prefix}{name}", method.inlined_graph if _calls_outside(graph, module_types) else graph
        for hooks in (c._get_forward_pre_hooks(), c._get_forward_hooks()):
            for hook in hooks:
                graph = hook.graph.copy()
                torch._C._jit_pass_inline(graph)
                yield f"{prefix}{hook.name}", graph


def operators(module) -> dict[str, str]:
    """Every operator kind in the module's code, each with the first method it appears in."""
    module_types = {sub._c._type().str() for sub in module.modules()}
    seen: dict[str, str] = {}
    for where, graph in _methods(module, module_types):
        for node in _nodes(graph):
            if node.kind() == "prim::CallMethod" and node.inputsAt(0).type().str() in module_types:
                continue  # a submodule's method: checked with that submodule
            seen.setdefault(node.kind(), where)
    return seen


def forbidden_operators(module) -> dict[str, str]:
    """The operators outside ``ALLOWED``, each with the first method that uses it."""
    return {kind: where for kind, where in operators(module).items() if kind not in ALLOWED}


def refusal(module, name: str) -> str | None:
    """The sentence refusing ``module``, or None when every operator it uses is allowed."""
    bad = forbidden_operators(module)
    if not bad:
        return None
    shown = sorted(bad)[:3]
    parts = "; ".join(f"{k} in {bad[k]} ({_why(k)})" for k in shown)
    more = f" and {len(bad) - len(shown)} more" if len(bad) > len(shown) else ""
    return (f"{name} calls {parts}{more}; Lumen runs only pure tensor operations from uploaded "
            "TorchScript, so it was not loaded.")


_SETSTATE = re.compile(rb"__setstate__")


def _code_refusal(path: Path) -> str | None:
    """Why the file's code cannot be loaded: ``__setstate__`` in its bytes or in a ``.py`` member of its
    ZIP (decompressed), or more code than ``_CODE_LIMIT``; None when neither."""
    setstate = "defines __setstate__, code that TorchScript runs while loading the file"
    tail = b""
    with path.open("rb") as f:  # stored members, and whatever a ZIP reader other than Python's would find
        while chunk := f.read(1 << 24):
            if _SETSTATE.search(tail + chunk):
                return setstate
            tail = chunk[-32:]
    left = _CODE_LIMIT
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():  # every member, duplicated names included
                if info.filename.endswith(".py"):
                    with z.open(info) as member:
                        code = member.read(left + 1)
                    if _SETSTATE.search(code):
                        return setstate
                    left -= len(code)
                    if left < 0:
                        return f"holds more than {_CODE_LIMIT // 1024**2} MB of code"
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError, zlib.error):
        pass  # not a ZIP Python can read: torch.jit.load refuses it, or finds only what the byte scan saw
    return None


def archive_refusal(path: Path, name: str) -> str | None:
    """The sentence refusing a file whose code cannot be loaded safely (``torch.jit.load`` runs ``__setstate__``)."""
    why = _code_refusal(Path(path))
    return f"{name} {why}; Lumen does not load such files." if why else None


def _child_limits(memory: int, cpu: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # may not grow or create a file's contents
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))  # a second stop, should the parent die


def _line(proc: subprocess.Popen, timeout: float) -> str | None:
    """The child's next line on stdout, or None if none came within ``timeout`` seconds."""
    if not select.select([proc.stdout], [], [], timeout)[0]:
        return None
    return proc.stdout.readline().decode("utf-8", "replace").strip()


def first_forward(path, input_size: tuple[int, int], name: str) -> tuple[int, ...]:
    """The output shape of one forward pass on a blank 1×3×H×W image, run in a child process.

    Raises ``ModelLoadError`` with a sentence when the file is refused, fails, does not load within
    ``STARTUP_TIMEOUT_S``, runs its forward pass past ``FORWARD_TIMEOUT_S`` (the child is killed either
    way) or needs more than ``FORWARD_MEMORY_BYTES``.
    """
    from models.errors import ModelLoadError

    h, w = input_size
    image = f"a 1×3×{h}×{w} image"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONWARNINGS": "ignore"}
    cpu = int(STARTUP_TIMEOUT_S + 2 * FORWARD_TIMEOUT_S) + 5
    command = [sys.executable, "-m", "models.sources.torchscript_guard", str(Path(path).resolve()), str(h), str(w),
               name, str(FORWARD_MEMORY_BYTES), str(cpu)]
    proc = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[2], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        ready = _line(proc, STARTUP_TIMEOUT_S)  # "ready" once loaded and checked, else the answer
        if ready is None:
            raise ModelLoadError(f"{name} did not load within {STARTUP_TIMEOUT_S:g} s, so it was not loaded.")
        answer = ready
        if ready == "ready":
            answer = _line(proc, FORWARD_TIMEOUT_S)
            if answer is None:
                raise ModelLoadError(f"{name} did not finish one forward pass on {image} within "
                                     f"{FORWARD_TIMEOUT_S:g} s, so it was not loaded.")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
    try:
        answer = json.loads(answer) if answer else {}
    except ValueError:
        answer = {}
    if "error" in answer:
        raise ModelLoadError(str(answer["error"]))
    if "shape" not in answer:
        raise ModelLoadError(
            f"{name} stopped during one forward pass on {image} (exit status {proc.returncode}); "
            f"it may need more than {FORWARD_MEMORY_BYTES / 1024**3:g} GiB of memory, so it was not loaded."
        )
    return tuple(int(v) for v in answer["shape"])


def _child(path: str, h: int, w: int, name: str, memory: int, cpu: int) -> dict:
    """In the child: check, load and run the file once; the answer is one JSON-able dict.

    Prints ``ready`` before the forward pass, so that the parent's time limit is the forward's own."""
    _child_limits(memory, cpu)
    import warnings

    import torch

    torch.set_num_threads(1)
    why = archive_refusal(Path(path), name)
    if why:
        return {"error": why}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = torch.jit.load(path, map_location="cpu")
    except Exception as e:
        return {"error": f"{name} is not a readable TorchScript file (save one with torch.jit.save; "
                         f"{e.__class__.__name__})."}
    why = refusal(module, name)
    if why:
        return {"error": why}
    print("ready", flush=True)
    try:
        with torch.inference_mode():
            out = module.eval()(torch.zeros(1, 3, h, w))
    except Exception as e:
        from models.errors import reason

        if isinstance(e, MemoryError) or "allocate" in str(e):
            return {"error": f"{name} needs more than {memory / 1024**3:g} GiB of memory for one forward pass "
                             f"on a 1×3×{h}×{w} image, so it was not loaded."}
        detail = reason(e)
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        if len(lines) > 1 and lines[0].startswith("The following operation failed"):
            detail = lines[-1][:200].rstrip(".")  # the interpreter's traceback ends with "Error: message"
        return {"error": f"{name} fails on a 1×3×{h}×{w} image ({detail})."}
    if not isinstance(out, torch.Tensor):
        return {"error": f"{name} gives {type(out).__name__} for one image, not a row of class scores."}
    return {"shape": list(out.shape)}


if __name__ == "__main__":
    _path, _h, _w, _name, _memory, _cpu = sys.argv[1:7]
    print(json.dumps(_child(_path, int(_h), int(_w), _name, int(_memory), int(_cpu))), flush=True)
