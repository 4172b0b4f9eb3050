"""Buffer hygiene for the CPU JIT: keep bufferization in its analysed mode and free buffers early.

- `scans_to_linalg`: torch-mlir lowers cumsum to `tm_tensor.scan`, which One-Shot Bufferize cannot
  analyse; a module holding one had to be bufferized copy-before-write, which copied every weight on
  every call. An inclusive additive scan is rewritten as a linalg reduction (out[i] = sum_{j<=i} x[j])
  in an outlined function, so the whole module bufferizes with analysis.
- `sink_deallocs`: ownership-based deallocation frees every buffer of @main at its end, so a forward
  pass holds all its intermediates at once (SmolLM2, 512 tokens: 6.6 GB). Each `memref.dealloc` of
  @main moves right after the last use of its buffer or of a view of it.
- `write_results_in_place`: a kernel whose result is a reshaped view of its own buffer writes into the
  caller's out-parameter directly, instead of copying the whole result there at its end.
"""

from qcomp.dialects._mlir import ir, run_pipeline
from qcomp.dialects.irutil import call_before, ops_named

from .linalg_text import Fn, T, dims

VIEWS = ("memref.expand_shape", "memref.collapse_shape", "memref.subview", "memref.cast", "memref.reinterpret_cast")


def _op(x):
    return x.operation if isinstance(x, ir.OpView) else x


def _scan_function(name: str, x: T, dim: int, add: str) -> str:
    """out[..., i, ...] = sum over j <= i of x[..., j, ...] along `dim`, as one linalg reduction."""
    fn = Fn(name, [x], [x])
    r = x.rank
    src = dims(r)
    src[dim] = f"d{r}"
    zero = "0.0" if x.elem.startswith("f") else "0"
    body = [
        f"%i = linalg.index {dim} : index",
        f"%j = linalg.index {r} : index",
        "%le = arith.cmpi ule, %j, %i : index",
        f"%z = arith.constant {zero} : {x.elem}",
        f"%v = arith.select %le, %a0, %z : {x.elem}",
        f"%s = {add} %o, %v : {x.elem}",
    ]
    out = fn.generic(r + 1, [("%arg0", x, src)], (fn.fill(x, zero), x, dims(r)), body, "%s", reduce_last=True)
    return fn.text([out])


def scans_to_linalg(module: ir.Module) -> None:
    """Rewrite inclusive additive `tm_tensor.scan`s whose carry result is unused (see module docstring)."""
    texts, done = [], []
    with module.context, ir.Location.unknown():
        for scan in ops_named(module, "tm_tensor.scan"):
            block = scan.regions[0].blocks[0]
            body = [_op(o).name for o in block.operations]
            add = body[0] if len(body) == 2 and body[0] in ("arith.addi", "arith.addf") else None
            inclusive = "inclusive(true)" in str(scan) or str(scan.attributes["inclusive"]) == "true"
            if add is None or not inclusive or list(scan.results[1].uses):
                continue
            x = scan.operands[0]
            name = f"__cumsum_{len(done)}"
            dim = ir.IntegerAttr(scan.attributes["dimension"]).value
            texts.append(_scan_function(name, T.parse(str(x.type)), dim, add))
            call = call_before(scan, name, [x], [scan.results[0].type])
            scan.results[0].replace_all_uses_with(call.results[0])
            done.append(scan)
        for scan in done:
            scan.erase()
        if texts:
            lib = ir.Module.parse("\n".join(texts))  # must outlive the detaches below
            for f in list(lib.body.operations):
                module.body.append(f.detach_from_parent())
    if done:
        run_pipeline(module, "canonicalize")


def _top(op, block_owner):
    """The ancestor of `op` that sits directly in the body of `block_owner`."""
    cur = _op(op)
    while cur.parent is not None and _op(cur.parent) != _op(block_owner):
        cur = _op(cur.parent)
    return cur


def sink_deallocs(module: ir.Module, func) -> None:
    """Move each top-level memref.dealloc of `func` right after the last use of its buffer's aliases."""
    block = func.regions[0].blocks[0]
    for d in [o for o in block.operations if _op(o).name == "memref.dealloc"]:
        d = _op(d)
        aliases, users, ok = [d.operands[0]], [], True
        while aliases and ok:
            v = aliases.pop()
            for use in v.uses:
                user = _op(use.owner)
                if user == d:
                    continue
                if user.name in VIEWS:
                    aliases.extend(user.results)
                elif any(isinstance(r.type, ir.MemRefType) for r in user.results):
                    ok = False  # an op that may return an alias we cannot follow: keep the dealloc at the end
                    break
                users.append(_top(user, func))
        if not ok or not users:
            continue
        last = users[0]
        for u in users[1:]:
            if last.is_before_in_block(u):
                last = u
        d.move_after(last)


def _reassociation(op) -> str:
    return str(op.attributes["reassociation"])


def _alloc_into_out(f, alloc, copy, dst) -> int:
    """An alloc of `f` filled (e.g. by a kernel call's out-parameter) and copied whole into the out-argument
    `dst` as its last use: the alloc becomes `dst` (SmolLM2's logits: 25 MB copied per call otherwise)."""
    if _op(alloc.parent) != _op(f) or alloc.results[0].type != dst.type or len(list(dst.uses)) != 1:
        return 0
    users = [_op(u.owner) for u in alloc.results[0].uses]
    deallocs = [u for u in users if u.name == "memref.dealloc"]
    others = [u for u in users if u != copy and u.name != "memref.dealloc"]
    if len(deallocs) != 1 or any(u.name in ("func.return", "memref.copy") for u in others):
        return 0
    if any(copy.is_before_in_block(_top(u, f)) for u in others):
        return 0  # used after the copy: the out-argument must not see those writes
    copy.erase()
    deallocs[0].erase()
    alloc.results[0].replace_all_uses_with(dst)
    alloc.erase()
    return 1


def write_results_in_place(module: ir.Module) -> int:
    """Let functions build their results in the caller's out-parameter instead of copying them there.

    `buffer-results-to-out-params` hoists a returned `memref.alloc` into the out-parameter, but a kernel
    that computes on a 2-D buffer and returns a reshaped view of it (`expand_shape`/`collapse_shape`)
    ends with `memref.copy %view, %out` of the whole result. Where the view's source is an alloc of the
    function's entry block whose only other uses are accesses (no dealloc but its own, no return), the
    alloc becomes the inverse reshape of %out, and the copy and the dealloc go. An alloc copied whole into
    the out-parameter as its last use (@main's results, filled by a kernel call) becomes the out-parameter.
    Returns how many."""
    done = 0
    for f in module.body.operations:
        if _op(f).name != "func.func" or not len(f.regions[0].blocks):
            continue
        block = f.regions[0].blocks[0]
        args = list(block.arguments)
        for copy in [_op(o) for o in block.operations if _op(o).name == "memref.copy"]:
            src, dst = copy.operands
            if dst not in args or isinstance(src.owner, ir.Block):
                continue
            view = _op(src.owner)
            if view.name == "memref.alloc":
                done += _alloc_into_out(f, view, copy, dst)
                continue
            if view.name not in ("memref.expand_shape", "memref.collapse_shape") or isinstance(
                view.operands[0].owner, ir.Block
            ):
                continue
            alloc = _op(view.operands[0].owner)
            if alloc.name != "memref.alloc" or _op(alloc.parent) != _op(f) or len(list(src.uses)) != 1:
                continue
            users = [_op(u.owner) for u in alloc.results[0].uses]
            deallocs = [u for u in users if u.name == "memref.dealloc"]
            if len(deallocs) != 1 or any(u.name in ("func.return", "memref.copy") and u != view for u in users):
                continue
            with ir.InsertionPoint(alloc), alloc.location:
                t = alloc.results[0].type
                if view.name == "memref.expand_shape":  # alloc = collapse(out)
                    inv = ir.Operation.create(
                        "memref.collapse_shape",
                        results=[t],
                        operands=[dst],
                        attributes={"reassociation": view.attributes["reassociation"]},
                    )
                else:  # alloc = expand(out), to the alloc's static shape
                    shape = ir.MemRefType(t).shape
                    inv = ir.Operation.create(
                        "memref.expand_shape",
                        results=[t],
                        operands=[dst],
                        attributes={
                            "reassociation": view.attributes["reassociation"],
                            "static_output_shape": ir.DenseI64ArrayAttr.get(shape),
                        },
                    )
            copy.erase()
            deallocs[0].erase()
            view.erase()
            alloc.results[0].replace_all_uses_with(inv.results[0])
            alloc.erase()
            done += 1
    return done
