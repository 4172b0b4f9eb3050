"""The NPU instruction set: seven instructions, a text assembly and a 32-byte binary encoding.

Memories: DRAM (byte addresses into the layer's image), the scratchpad (byte addresses; int8 tiles and
f32 vectors) and the accumulator (byte addresses of 4-byte words: i32 partial sums, f32 after EPI).
Loops are unrolled by the code generator: a program is straight-line; the simulator's scoreboard orders
instructions by the memory ranges they read and write (and a load of DRAM bytes after the store that
wrote them), so DMA overlaps compute wherever the code generator double-buffered.

    config  rows=R cols=C [ws]                      array shape the program was built for; dataflow os|ws
    ld      sp=S dram=D rows=n bytes=b stride=s [acc] DMA DRAM -> scratchpad: n rows of b bytes, DRAM row stride s
                                                    (acc: into the accumulator at byte address S: i32 partial sums
                                                    spilled by an earlier `st acc`, reloaded to accumulate onto)
    st      dram=D src=A rows=n bytes=b stride=s [acc] DMA scratchpad (or accumulator) -> DRAM
    preload w=S k=K n=N                             ws: shift the weight tile W[N, K] (i8 at S) into the array
    matmul  acc=A a=S w=S k=K m=M n=N [accumulate]   acc[M, N] (+)= a[M, K] · W[N, K]ᵀ in i32 (ws: preloaded W)
    epi     acc=A xs=S ws=S b=S m=M n=N [relu] [xs_scalar]
                                                    vector unit, in place: acc = act((f32(acc) · xs[m]) · ws[n] + b[n])
    halt                                            end of the program

Binary: little-endian `<BBH7I`: opcode, flags, reserved, then the seven operands in the order above.
"""

import struct
from dataclasses import dataclass, field

from qcomp.dialects.errors import QcompError

FORMAT = struct.Struct("<BBH7I")
WIDTH = FORMAT.size  # 32 bytes per instruction

# opcode -> (mnemonic, operand names, flag names (bit i = flags[i]))
OPCODES: dict[int, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    0: ("halt", (), ()),
    1: ("config", ("rows", "cols"), ("ws",)),
    2: ("ld", ("sp", "dram", "rows", "bytes", "stride"), ("acc",)),
    3: ("st", ("dram", "src", "rows", "bytes", "stride"), ("acc",)),
    4: ("preload", ("w", "k", "n"), ()),
    5: ("matmul", ("acc", "a", "w", "k", "m", "n"), ("accumulate",)),
    6: ("epi", ("acc", "xs", "ws", "b", "m", "n"), ("relu", "xs_scalar")),
}
BY_NAME = {name: (code, ops, flags) for code, (name, ops, flags) in OPCODES.items()}


@dataclass(frozen=True)
class Instr:
    """One instruction: its mnemonic, operand values by name and set flags."""

    op: str
    args: dict[str, int] = field(default_factory=dict)
    flags: frozenset[str] = frozenset()

    def __post_init__(self):
        if self.op not in BY_NAME:
            raise QcompError(f"npu isa: unknown instruction {self.op!r}")
        _, names, flag_names = BY_NAME[self.op]
        if set(self.args) != set(names):
            raise QcompError(f"npu isa: {self.op} takes operands {', '.join(names) or 'none'}, got {sorted(self.args)}")
        bad = set(self.flags) - set(flag_names)
        if bad:
            raise QcompError(f"npu isa: {self.op} has no flag {sorted(bad)[0]!r}")
        for k, v in self.args.items():
            if not 0 <= v < 1 << 32:
                raise QcompError(f"npu isa: {self.op} operand {k}={v} does not fit in 32 bits")

    def __getitem__(self, name: str) -> int:
        return self.args[name]

    def text(self) -> str:
        _, names, flag_names = BY_NAME[self.op]
        parts = [self.op, *(f"{n}={_fmt(n, self.args[n])}" for n in names)]
        parts += [f for f in flag_names if f in self.flags]
        return " ".join(parts)

    def encode(self) -> bytes:
        code, names, flag_names = BY_NAME[self.op]
        bits = sum(1 << i for i, f in enumerate(flag_names) if f in self.flags)
        vals = [self.args[n] for n in names] + [0] * (7 - len(names))
        return FORMAT.pack(code, bits, 0, *vals)


def _fmt(name: str, v: int) -> str:
    return hex(v) if name in ("sp", "dram", "src", "acc", "a", "w", "xs", "ws", "b") else str(v)


def make(op: str, *flags: str, **args: int) -> Instr:
    return Instr(op, {k: int(v) for k, v in args.items()}, frozenset(flags))


def assemble(text: str) -> list[Instr]:
    """Parse assembly text (one instruction per line; `;` starts a comment; `name:` lines are labels)."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split(";", 1)[0].strip()
        if not line:
            continue
        op, *rest = line.split()
        if op.endswith(":"):  # a label (the layer's name): instructions follow on later lines
            if rest:
                raise QcompError(f"npu asm line {lineno}: text after the label {op}")
            continue
        args, flags = {}, set()
        for tok in rest:
            key, eq, val = tok.partition("=")
            if eq:
                try:
                    args[key] = int(val, 0)
                except ValueError:
                    raise QcompError(f"npu asm line {lineno}: bad number {val!r} for {key}") from None
            else:
                flags.add(tok)
        try:
            out.append(Instr(op, args, frozenset(flags)))
        except QcompError as e:
            raise QcompError(f"npu asm line {lineno}: {e}") from None
    return out


def disassemble(program: list[Instr]) -> str:
    return "".join(i.text() + "\n" for i in program)


def encode(program: list[Instr]) -> bytes:
    return b"".join(i.encode() for i in program)


def decode(blob: bytes) -> list[Instr]:
    """Inverse of `encode`."""
    if len(blob) % WIDTH:
        raise QcompError(f"npu binary: {len(blob)} bytes is not a multiple of the {WIDTH}-byte instruction")
    out = []
    for off in range(0, len(blob), WIDTH):
        code, bits, _, *vals = FORMAT.unpack_from(blob, off)
        if code not in OPCODES:
            raise QcompError(f"npu binary: unknown opcode {code} at byte {off}")
        name, names, flag_names = OPCODES[code]
        flags = frozenset(f for i, f in enumerate(flag_names) if bits >> i & 1)
        out.append(Instr(name, dict(zip(names, vals, strict=False)), flags))
    return out
